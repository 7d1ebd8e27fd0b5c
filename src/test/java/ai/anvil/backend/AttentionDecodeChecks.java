package ai.anvil.backend;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.anvil.tensor.DType;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import ai.anvil.testkit.Assertions;
import ai.anvil.testkit.Random;
import ai.anvil.testkit.Tolerance;

/**
 * The body of the decode-op tests, run on every backend (AttentionDecodeTest on the CPU,
 * backend.cuda.CudaAttentionDecodeTest on a GPU): {@link Backend#attentionDecode} with per-row lengths
 * in device memory against a plain fp64 reference and against the old path (attention per row over the
 * cache's first length + add keys), and {@link Backend#kvAppend} / {@link Backend#kvAdvance} against the
 * host's expectation, untouched rows included.
 */
public final class AttentionDecodeChecks {
  private AttentionDecodeChecks() {}

  /**
   * q from a packed (B, 1, 3C) qkv, the cache (B, cap, C); lengths include 0 (a row that sees nothing
   * when add is 0), 1, a middle one and cap - 1 (with add 1: the whole cache).
   */
  public static void attentionDecode(Backend be, DType dtype, int heads, int headDim, int cap, int add) {
    int c = heads * headDim, b = 4;
    int[] lens = {0, 1, cap / 2, cap - 1};
    Random rnd = new Random(17L * headDim + cap + add);
    double[] qkv = round(rnd.normal(b * 3 * c, 1.0), dtype), k = round(rnd.normal(b * cap * c, 1.0), dtype),
        v = round(rnd.normal(b * cap * c, 1.0), dtype);
    AttentionSpec spec = AttentionSpec.of(heads, headDim, true);
    double scale = 1.0 / Math.sqrt(headDim);
    double[] expected = new double[b * c];
    for (int r = 0; r < b; r++) {
      int n = Math.max(0, Math.min(cap, lens[r] + add));
      for (int h = 0; h < heads; h++) {
        double[] s = new double[n];
        double max = Double.NEGATIVE_INFINITY;
        for (int j = 0; j < n; j++) {
          double dot = 0;
          for (int d = 0; d < headDim; d++) dot += qkv[r * 3 * c + h * headDim + d] * k[(r * cap + j) * c + h * headDim + d];
          s[j] = dot * scale;
          max = Math.max(max, s[j]);
        }
        double sum = 0;
        for (int j = 0; j < n; j++) sum += s[j] = Math.exp(s[j] - max);
        for (int d = 0; d < headDim; d++) {
          double o = 0;
          for (int j = 0; j < n; j++) o += s[j] * v[(r * cap + j) * c + h * headDim + d];
          expected[r * c + h * headDim + d] = n == 0 ? 0 : o / sum;
        }
      }
    }
    try (Scope s = Scope.open()) {
      Tensor tq = tensor(be, qkv, dtype, b, 1, 3 * c), tk = tensor(be, k, dtype, b, cap, c), tv = tensor(be, v, dtype, b, cap, c);
      Tensor lengths = Tensor.ofInts(lens, be.device(), b);
      Tensor out = Tensor.full(Double.NaN, dtype, be.device(), b, 1, c);
      be.attentionDecode(spec, tq, tk, tv, lengths, add, out);
      Tolerance tol = dtype == DType.BF16 ? Tolerance.BF16 : Tolerance.F32_REDUCTION;
      String at = dtype + " H" + heads + " D" + headDim + " cap " + cap + " add " + add;
      Assertions.assertClose("attentionDecode " + at, expected, out, tol);
      // the old path: attention per row over the first n keys of its cache rows
      Tensor old = Tensor.full(Double.NaN, dtype, be.device(), b, 1, c);
      for (int r = 0; r < b; r++) {
        int n = Math.max(0, Math.min(cap, lens[r] + add));
        if (n == 0) {
          be.fill(old.slice(r, r + 1), 0.0);
          continue;
        }
        Tensor kr = tk.slice(r, r + 1).reshape(cap, c).slice(0, n).reshape(1, n, c);
        Tensor vr = tv.slice(r, r + 1).reshape(cap, c).slice(0, n).reshape(1, n, c);
        be.attention(spec, tq.slice(r, r + 1), kr, vr, null, old.slice(r, r + 1), null);
      }
      double[] oldValues = Random.toDoubles(old.toFloatArray());
      Assertions.assertClose("attentionDecode vs per-row attention " + at, oldValues, out, tol);
    }
  }

  /** kvAppend of T rows per batch row at per-row positions from packed sources, then kvAdvance. */
  public static void kvAppend(Backend be, DType dtype, int t, int width) {
    int b = 3, cap = 9, ws = 3 * width;
    int[] lens = {0, 4, cap - t};
    Random rnd = new Random(5L + t + width);
    double[] src = round(rnd.normal(b * t * ws, 1.0), dtype), k0 = round(rnd.normal(b * cap * width, 1.0), dtype);
    double[] v0 = round(rnd.normal(b * cap * width, 1.0), dtype);
    double[] ke = k0.clone(), ve = v0.clone();
    for (int r = 0; r < b; r++) {
      for (int i = 0; i < t; i++) {
        for (int x = 0; x < width; x++) {
          ke[(r * cap + lens[r] + i) * width + x] = src[(r * t + i) * ws + width + x];
          ve[(r * cap + lens[r] + i) * width + x] = src[(r * t + i) * ws + 2 * width + x];
        }
      }
    }
    try (Scope s = Scope.open()) {
      Tensor ts = tensor(be, src, dtype, b, t, ws), tk = tensor(be, k0, dtype, b, cap, width), tv = tensor(be, v0, dtype, b, cap, width);
      Tensor lengths = Tensor.ofInts(lens, be.device(), b);
      be.kvAppend(ts, width, ts, 2 * width, tk, tv, lengths);
      String at = dtype + " T" + t + " W" + width;
      assertArrayEquals(ke, Random.toDoubles(tk.toFloatArray()), "kvAppend keys " + at);
      assertArrayEquals(ve, Random.toDoubles(tv.toFloatArray()), "kvAppend values " + at);
      be.kvAdvance(lengths, t);
      int[] after = lengths.toIntArray();
      for (int r = 0; r < b; r++) assertEquals(lens[r] + t, after[r], "kvAdvance row " + r);
    }
  }

  private static Tensor tensor(Backend be, double[] values, DType dtype, long... dims) {
    Tensor t = Tensor.empty(dtype, be.device(), dims);
    t.copyFrom(Random.toFloats(values));
    return t;
  }

  /** values as the dtype stores them (bf16: rounded to nearest even), so the reference sees the same inputs. */
  private static double[] round(double[] values, DType dtype) {
    double[] out = Random.roundToFloat(values);
    if (dtype == DType.BF16) {
      for (int i = 0; i < out.length; i++) {
        int bits = Float.floatToRawIntBits((float) out[i]);
        bits = (bits + 0x7fff + ((bits >>> 16) & 1)) & 0xffff0000;
        out[i] = Float.intBitsToFloat(bits);
      }
    }
    return out;
  }
}
