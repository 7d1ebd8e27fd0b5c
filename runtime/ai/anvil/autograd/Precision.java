package ai.anvil.autograd;

import ai.anvil.tensor.Device;
import java.util.Locale;

/**
 * The numeric precision of a training or scoring step (DESIGN.md "Numbers").
 * <ul>
 *   <li>{@link #FP32}: every op in fp32. The only mode of the CPU backend, and CUDA's mode for tests.
 *   <li>{@link #BF16}: mixed precision on CUDA under an {@link Autocast}: linear layers and attention take
 *       bf16 inputs and bf16 copies of the fp32 weights, accumulate in fp32 and give bf16 outputs; the
 *       residual stream, LayerNorm statistics, softmax and the loss stay fp32; parameter gradients, master
 *       weights and AdamW moments are fp32.
 * </ul>
 */
public enum Precision {
  FP32,
  BF16;

  /** fp32 or bf16 (case-insensitive); anything else is an error naming the accepted values. */
  public static Precision parse(String name) {
    if (name != null) {
      switch (name.trim().toLowerCase(Locale.ROOT)) {
        case "fp32", "f32", "float32" -> {
          return FP32;
        }
        case "bf16", "bfloat16" -> {
          return BF16;
        }
        default -> { }
      }
    }
    throw new IllegalArgumentException("precision must be fp32 or bf16, got " + name);
  }

  /** The default of a device: bf16 on CUDA (tensor cores), fp32 on the CPU (its only mode). */
  public static Precision defaultFor(Device device) {
    return device.isCpu() ? FP32 : BF16;
  }

  /** Throws IllegalArgumentException when this precision cannot run on device (bf16 on the CPU). */
  public Precision checkDevice(Device device) {
    if (this == BF16 && device.isCpu()) {
      throw new IllegalArgumentException("precision bf16 needs a CUDA device; the CPU backend is fp32 only (use fp32 on "
          + device + ")");
    }
    return this;
  }

  /** The flag and log spelling: fp32, bf16. */
  public String label() {
    return name().toLowerCase(Locale.ROOT);
  }
}
