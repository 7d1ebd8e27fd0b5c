package ai.anvil.backend;

/** A native kernel returned an error code; the message is the kernel's own (anvil_last_error). */
public class AnvilException extends RuntimeException {
  private static final long serialVersionUID = 1L;
  private final int code;

  public AnvilException(String op, int code, String message) {
    super(op + " failed (" + codeName(code) + "): " + message);
    this.code = code;
  }

  public int code() {
    return code;
  }

  static String codeName(int code) {
    return switch (code) {
      case 1 -> "invalid argument";
      case 2 -> "out of memory";
      case 3 -> "unsupported";
      case 4 -> "CUDA error";
      default -> "error " + code;
    };
  }
}
