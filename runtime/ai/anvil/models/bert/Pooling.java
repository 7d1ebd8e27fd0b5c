package ai.anvil.models.bert;

import ai.anvil.autograd.Ops;
import ai.anvil.tensor.DType;
import ai.anvil.tensor.Tensor;

/**
 * Sentence vectors from an encoder's hidden states (B, T, H), on the recorded ops so gradients flow
 * back: each pooling is a batched matmul of per-row token weights (B, 1, T) with the hidden states, so
 * no slicing or masking op is needed.
 */
public final class Pooling {
  private Pooling() {}

  /** The first token's state ([CLS]): hidden (B, T, H) -> (B, H). Exact (a one-hot weighting). */
  public static Tensor cls(Tensor hidden) {
    checkHidden("Pooling.cls", hidden);
    long b = hidden.dim(0), t = hidden.dim(1);
    float[] w = new float[Math.toIntExact(b * t)];
    for (long i = 0; i < b; i++) w[Math.toIntExact(i * t)] = 1f;
    return weighted(hidden, w);
  }

  /**
   * The mean over real tokens, as sentence-transformers computes it: hidden (B, T, H), attentionMask
   * I32 (B, T) (nonzero = real) or null (all real) -> (B, H). A row without real tokens gives zeros
   * (sentence-transformers clamps the count to 1e-9, which also gives zeros).
   */
  public static Tensor mean(Tensor hidden, Tensor attentionMask) {
    checkHidden("Pooling.mean", hidden);
    long b = hidden.dim(0), t = hidden.dim(1);
    float[] w = new float[Math.toIntExact(b * t)];
    if (attentionMask == null) {
      java.util.Arrays.fill(w, (float) (1.0 / t));
      return weighted(hidden, w);
    }
    if (attentionMask.dtype() != DType.I32 || attentionMask.rank() != 2 || attentionMask.dim(0) != b
        || attentionMask.dim(1) != t) {
      throw new IllegalArgumentException("Pooling.mean: attentionMask must be I32 (" + b + ", " + t + "), got "
          + attentionMask.shape() + " " + attentionMask.dtype());
    }
    int[] mask = attentionMask.toIntArray();
    for (int i = 0; i < b; i++) {
      int count = 0;
      for (int j = 0; j < t; j++) if (mask[(int) (i * t + j)] != 0) count++;
      if (count == 0) continue;
      float inv = (float) (1.0 / count);
      for (int j = 0; j < t; j++) if (mask[(int) (i * t + j)] != 0) w[(int) (i * t + j)] = inv;
    }
    return weighted(hidden, w);
  }

  /**
   * The last real token's state, as GPT2ForSequenceClassification pools a causal body: hidden (B, T, H),
   * attentionMask I32 (B, T) (nonzero = real) or null (all real) -> (B, H). The last real token is the
   * last nonzero of the row (rows are right-padded); a row without real tokens gives zeros. Exact.
   */
  public static Tensor last(Tensor hidden, Tensor attentionMask) {
    checkHidden("Pooling.last", hidden);
    long b = hidden.dim(0), t = hidden.dim(1);
    float[] w = new float[Math.toIntExact(b * t)];
    int[] mask = attentionMask == null ? null : checkMask("Pooling.last", attentionMask, b, t).toIntArray();
    for (int i = 0; i < b; i++) {
      int last = mask == null ? (int) t - 1 : -1;
      for (int j = 0; mask != null && j < t; j++) if (mask[(int) (i * t + j)] != 0) last = j;
      if (last >= 0) w[(int) (i * t + last)] = 1f;
    }
    return weighted(hidden, w);
  }

  private static Tensor checkMask(String op, Tensor attentionMask, long b, long t) {
    if (attentionMask.dtype() != DType.I32 || attentionMask.rank() != 2 || attentionMask.dim(0) != b
        || attentionMask.dim(1) != t) {
      throw new IllegalArgumentException(op + ": attentionMask must be I32 (" + b + ", " + t + "), got "
          + attentionMask.shape() + " " + attentionMask.dtype());
    }
    return attentionMask;
  }

  /**
   * tanh(z) elementwise, any shape, as p0 - p1 of softmax over the pair (z, -z) (p0 - p1 = tanh z):
   * made of linear, softmax and reshape, so it is differentiable on every backend. Absolute error about
   * fp32's rounding (1e-7); not meant for large tensors (two tiny matmuls per element).
   */
  public static Tensor tanh(Tensor z) {
    long n = z.numel();
    // Constants of the current scope: the recorded linears read them again in the backward pass.
    Tensor up = Tensor.of(new float[] {1f, -1f}, z.device(), 2, 1);
    Tensor down = Tensor.of(new float[] {1f, -1f}, z.device(), 1, 2);
    Tensor pairs = Ops.linear(Ops.reshape(z, n, 1), up, null);                           // (n, 2): z, -z
    Tensor p = Ops.softmax(pairs, 1.0);                                                   // (n, 2)
    return Ops.reshape(Ops.linear(p, down, null), z.dims());                              // p0 - p1
  }

  /** L2-normalizes each row of vectors (rows, dim) in place (a zero row stays zero), as F.normalize does. */
  public static void l2Normalize(float[] vectors, int dim) {
    if (dim < 1 || vectors.length % dim != 0) {
      throw new IllegalArgumentException("l2Normalize: " + vectors.length + " values are not rows of " + dim);
    }
    for (int r = 0; r < vectors.length; r += dim) {
      double sum = 0;
      for (int i = 0; i < dim; i++) sum += (double) vectors[r + i] * vectors[r + i];
      double norm = Math.max(Math.sqrt(sum), 1e-12);
      for (int i = 0; i < dim; i++) vectors[r + i] = (float) (vectors[r + i] / norm);
    }
  }

  private static void checkHidden(String op, Tensor hidden) {
    if (hidden.rank() != 3) throw new IllegalArgumentException(op + ": hidden must be (B, T, H), got " + hidden.shape());
  }

  /** weights w (B*T, row-major (B, 1, T)) @ hidden (B, T, H) -> (B, H). */
  private static Tensor weighted(Tensor hidden, float[] w) {
    long b = hidden.dim(0), t = hidden.dim(1), h = hidden.dim(2);
    Tensor weights = Tensor.of(w, hidden.device(), b, 1, t);
    if (weights.dtype() != hidden.dtype()) {
      throw new IllegalArgumentException("Pooling: " + hidden.dtype() + " hidden states are not supported (F32 only)");
    }
    return Ops.reshape(Ops.matmul(weights, hidden, false, false), b, h);
  }
}
