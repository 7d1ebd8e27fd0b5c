package ai.anvil.backend;

/**
 * The static description of one attention call.
 *
 * <p>Inputs are (B, T, W) token rows. Head h of q is columns [qColumn + h*headDim, qColumn + (h+1)*headDim)
 * of q's rows, and likewise for k and v, so q, k, v may be three column blocks of one packed (B, T, 3C)
 * projection (columns 0, C, 2C) or three separate (B, T, C) tensors (columns 0).
 *
 * @param heads number of heads H
 * @param headDim size of each head D
 * @param causal query i sees keys j <= i + (Tk - Tq) (bottom-right alignment)
 * @param scale the factor on q.k, usually 1/sqrt(D)
 */
public record AttentionSpec(int heads, int headDim, boolean causal, double scale, int qColumn, int kColumn,
                            int vColumn) {
  public AttentionSpec {
    if (heads <= 0 || headDim <= 0) {
      throw new IllegalArgumentException("attention: heads and headDim must be > 0, got " + heads + ", " + headDim);
    }
    if (qColumn < 0 || kColumn < 0 || vColumn < 0) {
      throw new IllegalArgumentException("attention: column offsets must be >= 0");
    }
    if (!Double.isFinite(scale)) throw new IllegalArgumentException("attention: scale must be finite");
  }

  /** Separate q, k, v tensors of width heads*headDim, scale 1/sqrt(headDim). */
  public static AttentionSpec of(int heads, int headDim, boolean causal) {
    return new AttentionSpec(heads, headDim, causal, 1.0 / Math.sqrt(headDim), 0, 0, 0);
  }

  /** One packed (B, T, 3*heads*headDim) qkv tensor. */
  public static AttentionSpec packed(int heads, int headDim, boolean causal) {
    int c = heads * headDim;
    return new AttentionSpec(heads, headDim, causal, 1.0 / Math.sqrt(headDim), 0, c, 2 * c);
  }

  public int width() {
    return heads * headDim;
  }
}
