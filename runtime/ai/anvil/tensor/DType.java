package ai.anvil.tensor;

/** Element types. The code matches the {@code ANVIL_F32/BF16/I32} constants of anvil.h. */
public enum DType {
  F32(4, 0),
  BF16(2, 1),
  I32(4, 2);

  private final int bytes;
  private final int code;

  DType(int bytes, int code) {
    this.bytes = bytes;
    this.code = code;
  }

  /** Bytes per element. */
  public int bytes() {
    return bytes;
  }

  /** The dtype code of the C ABI. */
  public int code() {
    return code;
  }
}
