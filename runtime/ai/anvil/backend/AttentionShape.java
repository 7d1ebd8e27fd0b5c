package ai.anvil.backend;

import ai.anvil.tensor.DType;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Tensor;

/** The checked sizes and strides (in elements) of one attention call; see {@link AttentionSpec}. */
public record AttentionShape(AttentionSpec spec, long batch, long qLen, long kLen, long qWidth, long kWidth,
                             long vWidth) {

  static AttentionShape of(String op, AttentionSpec spec, Tensor q, Tensor k, Tensor v, Tensor keyMask,
                           Tensor out, Tensor lse, Device device) {
    if (spec == null) throw new IllegalArgumentException(op + ": spec must not be null");
    Checks.present(op, "q", q, device);
    Checks.present(op, "k", k, device);
    Checks.present(op, "v", v, device);
    Checks.present(op, "out", out, device);
    Checks.rank(op, "q", q, 3);
    Checks.rank(op, "k", k, 3);
    Checks.rank(op, "v", v, 3);
    long b = q.dim(0);
    long tq = q.dim(1);
    long tk = k.dim(1);
    if (k.dim(0) != b || v.dim(0) != b || v.dim(1) != tk) {
      throw new IllegalArgumentException(op + ": q " + q.shape() + ", k " + k.shape() + ", v " + v.shape()
          + " disagree on batch or key length");
    }
    if (tq == 0 || tk == 0 || b == 0) throw new IllegalArgumentException(op + ": empty input " + q.shape() + " / " + k.shape());
    int w = spec.width();
    column(op, "q", q, spec.qColumn(), w);
    column(op, "k", k, spec.kColumn(), w);
    column(op, "v", v, spec.vColumn(), w);
    Checks.shape(op, "out", out, b, tq, w);
    if (lse != null) {
      Checks.present(op, "lse", lse, device);
      Checks.dtype(op, "lse", lse, DType.F32);
      Checks.shape(op, "lse", lse, b, spec.heads(), tq);
    }
    if (keyMask != null) {
      Checks.present(op, "keyMask", keyMask, device);
      Checks.dtype(op, "keyMask", keyMask, DType.I32);
      Checks.shape(op, "keyMask", keyMask, b, tk);
    }
    return new AttentionShape(spec, b, tq, tk, q.dim(2), k.dim(2), v.dim(2));
  }

  private static void column(String op, String name, Tensor t, int column, int width) {
    if (column + width > t.dim(2)) {
      throw new IllegalArgumentException(op + ": " + name + " columns [" + column + ", " + (column + width)
          + ") exceed its width " + t.dim(2) + " (shape " + t.shape() + ")");
    }
  }
}
