package ai.anvil.backend;

import ai.anvil.tensor.Tensor;

/**
 * The sizes of one (batched) matmul, derived and checked from its operands.
 * strideA/strideB are 0 when that operand is 2-D and broadcast over the batch.
 */
public record MatmulShape(long batch, long m, long n, long k, boolean transA, boolean transB, long strideA,
                          long strideB, long strideC) {

  /**
   * The shape of op(a) @ op(b) into c (see {@link Backend#matmul}); throws IllegalArgumentException naming op
   * when the operands are null, closed, on mixed devices, of the wrong rank or of mismatched sizes.
   */
  public static MatmulShape of(String op, Tensor a, Tensor b, Tensor c, boolean transA, boolean transB) {
    if (a == null || b == null || c == null) throw new IllegalArgumentException(op + ": a, b and c must not be null");
    a.checkAlive(op + " (a)");
    b.checkAlive(op + " (b)");
    c.checkAlive(op + " (c)");
    if (!a.device().equals(b.device()) || !a.device().equals(c.device())) {
      throw new IllegalArgumentException(op + ": a, b, c on " + a.device() + ", " + b.device() + ", " + c.device()
          + " (mixed devices)");
    }
    Checks.rank(op, "a", a, 2, 3);
    Checks.rank(op, "b", b, 2, 3);
    Checks.rank(op, "c", c, 2, 3);
    long batchA = a.rank() == 3 ? a.dim(0) : 1;
    long batchB = b.rank() == 3 ? b.dim(0) : 1;
    if (a.rank() == 3 && b.rank() == 3 && batchA != batchB) {
      throw new IllegalArgumentException(op + ": batch sizes differ: a " + a.shape() + ", b " + b.shape());
    }
    boolean batched = a.rank() == 3 || b.rank() == 3;
    long batch = Math.max(batchA, batchB);
    long m = transA ? a.dim(-1) : a.dim(-2);
    long k = transA ? a.dim(-2) : a.dim(-1);
    long kb = transB ? b.dim(-1) : b.dim(-2);
    long n = transB ? b.dim(-2) : b.dim(-1);
    if (k != kb) {
      throw new IllegalArgumentException(op + ": inner dimensions differ: op(a) is (" + m + ", " + k + ") from "
          + a.shape() + (transA ? "^T" : "") + ", op(b) is (" + kb + ", " + n + ") from " + b.shape()
          + (transB ? "^T" : ""));
    }
    long[] expected = batched ? new long[] {batch, m, n} : new long[] {m, n};
    Checks.shape(op, "c", c, expected);
    return new MatmulShape(batch, m, n, k, transA, transB, a.rank() == 3 ? m * k : 0, b.rank() == 3 ? k * n : 0,
        m * n);
  }
}
