package ai.anvil.testkit.reference;

import ai.anvil.backend.AttentionSpec;

/**
 * Multi-head scaled dot-product attention in fp64, the naive way (scores and softmax materialized per
 * query row): the oracle for native/cpu/attention.cpp and the CUDA attention kernels.
 *
 * <p>Arrays are token rows as the backend takes them: q (B, Tq, qWidth), k (B, Tk, kWidth), v (B, Tk,
 * vWidth), head h at columns column + h*D of each row ({@link AttentionSpec}); out and dout are (B, Tq,
 * H*D), lse (B, H, Tq). Query i sees key j when keyMask[b][j] != 0 (or no mask) and, when causal,
 * j <= i + (Tk - Tq). A query that sees no key gets out = 0, lse = -inf and zero gradients.
 */
public final class AttentionReference {
  private AttentionReference() {}

  /** Sizes of one call; keyMask (B, Tk) or null. q, k, v may be one packed array (equal widths). */
  public record Shape(AttentionSpec spec, int batch, int qLen, int kLen, int qWidth, int kWidth, int vWidth,
                      int[] keyMask) {
    public Shape {
      int w = spec.width();
      if (spec.qColumn() + w > qWidth || spec.kColumn() + w > kWidth || spec.vColumn() + w > vWidth) {
        throw new IllegalArgumentException("attention reference: head columns exceed a row");
      }
      if (keyMask != null && keyMask.length != batch * kLen) {
        throw new IllegalArgumentException("attention reference: keyMask must be (batch, kLen)");
      }
    }

    /** Separate (B, T, H*D) q, k, v. */
    public static Shape separate(AttentionSpec spec, int batch, int qLen, int kLen, int[] keyMask) {
      int w = spec.width();
      return new Shape(spec, batch, qLen, kLen, w, w, w, keyMask);
    }

    /** One packed (B, T, 3*H*D) qkv array (T = qLen = kLen). */
    public static Shape packed(AttentionSpec spec, int batch, int len, int[] keyMask) {
      int w = 3 * spec.width();
      return new Shape(spec, batch, len, len, w, w, w, keyMask);
    }

    public boolean visible(int b, int i, int j) {
      if (keyMask != null && keyMask[b * kLen + j] == 0) return false;
      return !spec.causal() || j <= i + (kLen - qLen);
    }

    int q(int b, int i, int h) {
      return (b * qLen + i) * qWidth + spec.qColumn() + h * spec.headDim();
    }

    int k(int b, int j, int h) {
      return (b * kLen + j) * kWidth + spec.kColumn() + h * spec.headDim();
    }

    int v(int b, int j, int h) {
      return (b * kLen + j) * vWidth + spec.vColumn() + h * spec.headDim();
    }

    int o(int b, int i, int h) {
      return (b * qLen + i) * spec.width() + h * spec.headDim();
    }
  }

  /** out (B, Tq, H*D) and lse (B, H, Tq). */
  public record Forward(double[] out, double[] lse) {}

  /**
   * Gradients shaped like q, k and v (zero outside their head columns). When q, k, v are one packed
   * array, its gradient is the sum of the three.
   */
  public record Backward(double[] dq, double[] dk, double[] dv) {
    public double[] sum() {
      double[] s = dq.clone();
      for (int i = 0; i < s.length; i++) s[i] += dk[i] + dv[i];
      return s;
    }
  }

  /** The probabilities of query i of head h over the keys (0 where not visible), or null if it sees none. */
  static double[] probabilities(Shape s, double[] q, double[] k, int b, int h, int i, double[] lseOut) {
    int d = s.spec().headDim();
    double[] p = new double[s.kLen()];
    double max = Double.NEGATIVE_INFINITY;
    for (int j = 0; j < s.kLen(); j++) {
      if (!s.visible(b, i, j)) {
        p[j] = Double.NEGATIVE_INFINITY;
        continue;
      }
      double dot = 0;
      int qo = s.q(b, i, h), ko = s.k(b, j, h);
      for (int e = 0; e < d; e++) dot += q[qo + e] * k[ko + e];
      p[j] = s.spec().scale() * dot;
      max = Math.max(max, p[j]);
    }
    if (max == Double.NEGATIVE_INFINITY) {
      lseOut[0] = Double.NEGATIVE_INFINITY;
      return null;
    }
    double sum = 0;
    for (int j = 0; j < p.length; j++) {
      p[j] = p[j] == Double.NEGATIVE_INFINITY ? 0 : Math.exp(p[j] - max);
      sum += p[j];
    }
    for (int j = 0; j < p.length; j++) p[j] /= sum;
    lseOut[0] = max + Math.log(sum);
    return p;
  }

  public static Forward forward(Shape s, double[] q, double[] k, double[] v) {
    int heads = s.spec().heads(), d = s.spec().headDim();
    double[] out = new double[s.batch() * s.qLen() * s.spec().width()];
    double[] lse = new double[s.batch() * heads * s.qLen()];
    double[] l = new double[1];
    for (int b = 0; b < s.batch(); b++) {
      for (int h = 0; h < heads; h++) {
        for (int i = 0; i < s.qLen(); i++) {
          double[] p = probabilities(s, q, k, b, h, i, l);
          lse[(b * heads + h) * s.qLen() + i] = l[0];
          if (p == null) continue;
          int oo = s.o(b, i, h);
          for (int j = 0; j < s.kLen(); j++) {
            if (p[j] == 0) continue;
            int vo = s.v(b, j, h);
            for (int e = 0; e < d; e++) out[oo + e] += p[j] * v[vo + e];
          }
        }
      }
    }
    return new Forward(out, lse);
  }

  /**
   * Gradients of sum(out * dout): with P the probabilities and dP_ij = dout_i . v_j,
   * dS_ij = P_ij (dP_ij - sum_j' P_ij' dP_ij') scale; dq_i = sum_j dS_ij k_j, dk_j = sum_i dS_ij q_i,
   * dv_j = sum_i P_ij dout_i.
   */
  public static Backward backward(Shape s, double[] q, double[] k, double[] v, double[] dout) {
    int heads = s.spec().heads(), d = s.spec().headDim();
    double scale = s.spec().scale();
    double[] dq = new double[q.length], dk = new double[k.length], dv = new double[v.length];
    double[] dp = new double[s.kLen()];
    double[] l = new double[1];
    for (int b = 0; b < s.batch(); b++) {
      for (int h = 0; h < heads; h++) {
        for (int i = 0; i < s.qLen(); i++) {
          double[] p = probabilities(s, q, k, b, h, i, l);
          if (p == null) continue;
          int qo = s.q(b, i, h), oo = s.o(b, i, h);
          double rowDot = 0;
          for (int j = 0; j < s.kLen(); j++) {
            if (p[j] == 0) continue;
            int vo = s.v(b, j, h);
            double acc = 0;
            for (int e = 0; e < d; e++) acc += dout[oo + e] * v[vo + e];
            dp[j] = acc;
            rowDot += p[j] * acc;
          }
          for (int j = 0; j < s.kLen(); j++) {
            if (p[j] == 0) continue;
            double ds = p[j] * (dp[j] - rowDot) * scale;
            int ko = s.k(b, j, h), vo = s.v(b, j, h);
            for (int e = 0; e < d; e++) {
              dq[qo + e] += ds * k[ko + e];
              dk[ko + e] += ds * q[qo + e];
              dv[vo + e] += p[j] * dout[oo + e];
            }
          }
        }
      }
    }
    return new Backward(dq, dk, dv);
  }
}
