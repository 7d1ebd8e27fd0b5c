package ai.anvil.backend.cuda;

import ai.anvil.tensor.BFloat16;

/**
 * Attention computed the naive way in bf16, as PyTorch's math path does with bf16 tensors: every
 * intermediate tensor (scores, probabilities, products) is rounded to bf16 and each op computes in fp32
 * internally. It is the yardstick of the 2x-naive-error rule for attention, whose fast kernels round
 * the probabilities to bf16 before the second product; the fp32 reference is the CPU backend.
 *
 * <p>Arrays are (B, T, width) token rows; head h of q lives at columns qColumn + h*D (likewise k, v);
 * out, dout are (B, Tq, H*D).
 */
final class NaiveAttention {
  final int batch, heads, dim, tq, tk;
  final int qWidth, kWidth, vWidth, qColumn, kColumn, vColumn;
  final boolean causal;
  final double scale;
  final int[] mask;  // (B, Tk) or null
  final boolean bf16;  // false: no rounding at all, the fp64 reference (validated against the CPU backend)

  NaiveAttention(int batch, int heads, int dim, int tq, int tk, int qWidth, int kWidth, int vWidth, int qColumn,
                 int kColumn, int vColumn, boolean causal, double scale, int[] mask, boolean bf16) {
    this.batch = batch;
    this.heads = heads;
    this.dim = dim;
    this.tq = tq;
    this.tk = tk;
    this.qWidth = qWidth;
    this.kWidth = kWidth;
    this.vWidth = vWidth;
    this.qColumn = qColumn;
    this.kColumn = kColumn;
    this.vColumn = vColumn;
    this.causal = causal;
    this.scale = scale;
    this.mask = mask;
    this.bf16 = bf16;
  }

  double r(double x) {
    return bf16 ? BFloat16.round((float) x) : x;
  }

  boolean visible(int b, int i, int j) {
    if (mask != null && mask[b * tk + j] == 0) return false;
    return !causal || j <= i + (tk - tq);
  }

  int qi(int b, int i, int h, int d) {
    return (b * tq + i) * qWidth + qColumn + h * dim + d;
  }

  int ki(int b, int j, int h, int d) {
    return (b * tk + j) * kWidth + kColumn + h * dim + d;
  }

  int vi(int b, int j, int h, int d) {
    return (b * tk + j) * vWidth + vColumn + h * dim + d;
  }

  int oi(int b, int i, int h, int d) {
    return (b * tq + i) * heads * dim + h * dim + d;
  }

  /** P (B, H, Tq, Tk): bf16 probabilities of bf16 scores; 0 where masked or for rows that see nothing. */
  double[] probabilities(double[] q, double[] k) {
    double[] p = new double[batch * heads * tq * tk];
    double[] s = new double[tk];
    for (int b = 0; b < batch; b++) {
      for (int h = 0; h < heads; h++) {
        for (int i = 0; i < tq; i++) {
          double max = Double.NEGATIVE_INFINITY;
          for (int j = 0; j < tk; j++) {
            if (!visible(b, i, j)) continue;
            double dot = 0;
            for (int d = 0; d < dim; d++) dot += q[qi(b, i, h, d)] * k[ki(b, j, h, d)];
            s[j] = r(r(dot) * scale);
            max = Math.max(max, s[j]);
          }
          if (max == Double.NEGATIVE_INFINITY) continue;
          double sum = 0;
          for (int j = 0; j < tk; j++) if (visible(b, i, j)) sum += Math.exp(s[j] - max);
          int base = ((b * heads + h) * tq + i) * tk;
          for (int j = 0; j < tk; j++) p[base + j] = visible(b, i, j) ? r(Math.exp(s[j] - max) / sum) : 0;
        }
      }
    }
    return p;
  }

  /** out (B, Tq, H*D) = bf16(P v). */
  double[] forward(double[] q, double[] k, double[] v) {
    double[] p = probabilities(q, k);
    double[] out = new double[batch * tq * heads * dim];
    for (int b = 0; b < batch; b++) {
      for (int h = 0; h < heads; h++) {
        for (int i = 0; i < tq; i++) {
          int base = ((b * heads + h) * tq + i) * tk;
          for (int d = 0; d < dim; d++) {
            double acc = 0;
            for (int j = 0; j < tk; j++) acc += p[base + j] * v[vi(b, j, h, d)];
            out[oi(b, i, h, d)] = r(acc);
          }
        }
      }
    }
    return out;
  }

  /**
   * dq, dk, dv laid out like q, k, v (other columns 0): dP = bf16(dout v^T), dV = bf16(P^T dout),
   * dS = bf16(P (dP - rowsum(dP P))), dQ = bf16(scale dS k), dK = bf16(scale dS^T q).
   */
  double[][] backward(double[] q, double[] k, double[] v, double[] dout) {
    double[] p = probabilities(q, k);
    double[] dq = new double[q.length], dk = new double[k.length], dv = new double[v.length];
    double[] ds = new double[p.length];
    for (int b = 0; b < batch; b++) {
      for (int h = 0; h < heads; h++) {
        for (int i = 0; i < tq; i++) {
          int base = ((b * heads + h) * tq + i) * tk;
          double[] dp = new double[tk];
          double rowsum = 0;
          for (int j = 0; j < tk; j++) {
            double acc = 0;
            for (int d = 0; d < dim; d++) acc += dout[oi(b, i, h, d)] * v[vi(b, j, h, d)];
            dp[j] = r(acc);
            rowsum += dp[j] * p[base + j];
          }
          for (int j = 0; j < tk; j++) ds[base + j] = r(p[base + j] * (dp[j] - rowsum));
        }
        for (int j = 0; j < tk; j++) {
          for (int d = 0; d < dim; d++) {
            double accV = 0, accK = 0;
            for (int i = 0; i < tq; i++) {
              int at = ((b * heads + h) * tq + i) * tk + j;
              accV += p[at] * dout[oi(b, i, h, d)];
              accK += ds[at] * q[qi(b, i, h, d)];
            }
            dv[vi(b, j, h, d)] = r(accV);
            dk[ki(b, j, h, d)] = r(scale * r(accK));
          }
        }
        for (int i = 0; i < tq; i++) {
          int base = ((b * heads + h) * tq + i) * tk;
          for (int d = 0; d < dim; d++) {
            double acc = 0;
            for (int j = 0; j < tk; j++) acc += ds[base + j] * k[ki(b, j, h, d)];
            dq[qi(b, i, h, d)] = r(scale * r(acc));
          }
        }
      }
    }
    return new double[][] {dq, dk, dv};
  }
}
