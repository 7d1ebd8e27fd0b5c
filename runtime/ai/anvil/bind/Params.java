package ai.anvil.bind;

import java.nio.ByteOrder;
import java.nio.LongBuffer;
import org.bytedeco.javacpp.LongPointer;

/**
 * A per-thread block of 64-bit slots that holds one params struct of {@code anvil.h} while a native
 * call runs. Fields are written in declaration order; {@link #address(int)} checks that exactly the
 * struct's slot count was written (the {@code ANVIL_*_SLOTS} constants mirrored below).
 *
 * <p>Usage: {@code long p = Params.begin().put(a).put(b).putDouble(eps).address(Params.LAYERNORM);}
 * The block stays valid until the next {@code begin()} on the same thread, which is after the call.
 */
public final class Params {
  public static final int MATMUL = 23;
  public static final int ELTWISE = 11;
  public static final int GELU = 7;
  public static final int LAYERNORM = 16;
  public static final int SOFTMAX = 7;
  public static final int ATTENTION = 25;
  public static final int EMBEDDING = 8;
  public static final int CROSS_ENTROPY = 11;
  public static final int ADAMW = 14;
  public static final int GRAD_NORM = 4;
  public static final int ADAMW_MULTI = 11;
  public static final int SAMPLE = 9;
  public static final int CAST = 8;
  public static final int KV_APPEND = 11;
  // Llama-family ops
  public static final int RMSNORM = 10;
  public static final int ROPE = 8;
  public static final int SWIGLU = 8;
  public static final int REPEAT_KV = 9;

  private static final int CAPACITY = 64;
  private static final ThreadLocal<Params> LOCAL = ThreadLocal.withInitial(Params::new);

  private final LongPointer memory;
  private final LongBuffer slots;
  private int written;

  private Params() {
    memory = new LongPointer(CAPACITY);
    slots = memory.asByteBuffer().order(ByteOrder.nativeOrder()).asLongBuffer();
  }

  /** Starts a new struct on this thread's block. */
  public static Params begin() {
    Params params = LOCAL.get();
    params.written = 0;
    return params;
  }

  public Params put(long value) {
    slots.put(written++, value);
    return this;
  }

  public Params put(boolean flag) {
    return put(flag ? 1L : 0L);
  }

  public Params putDouble(double value) {
    return put(Double.doubleToRawLongBits(value));
  }

  /** Address of the finished struct; fails loudly when the field count does not match the header. */
  public long address(int expectedSlots) {
    if (written != expectedSlots) {
      throw new IllegalStateException(
          "params struct has " + written + " slots written, header says " + expectedSlots);
    }
    return memory.address();
  }
}
