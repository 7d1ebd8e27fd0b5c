package ai.anvil.testkit;

import ai.anvil.tensor.DType;

/**
 * Typed tolerances: what "close" means for a kernel of a given dtype against the fp64 reference.
 * fp32 kernels do their math in fp32 with reductions of up to a few thousand terms; bf16 kernels are
 * judged by the 2x-naive-error rule instead (see {@link Assertions#assertWithinNaiveError}).
 */
public record Tolerance(double atol, double rtol) {
  public static final Tolerance F32 = new Tolerance(1e-5, 1e-4);
  /** For long reductions (GEMM with K in the thousands, softmax over a vocabulary). */
  public static final Tolerance F32_REDUCTION = new Tolerance(1e-4, 1e-3);
  public static final Tolerance BF16 = new Tolerance(1e-2, 2e-2);
  public static final Tolerance F64 = new Tolerance(1e-9, 1e-7);

  public static Tolerance of(DType dtype) {
    return switch (dtype) {
      case F32 -> F32;
      case BF16 -> BF16;
      case I32 -> new Tolerance(0, 0);
    };
  }

  public boolean accepts(double actual, double expected) {
    return Math.abs(actual - expected) <= atol + rtol * Math.abs(expected);
  }
}
