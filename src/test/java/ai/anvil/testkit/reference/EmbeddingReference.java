package ai.anvil.testkit.reference;

/** Embedding lookup in fp64: the oracle for native/cpu/embedding.cpp. */
public final class EmbeddingReference {
  private EmbeddingReference() {}

  /** out (n, dim) = table[ids[i]] for table (vocab, dim). */
  public static double[] forward(int[] ids, double[] table, int dim) {
    double[] out = new double[ids.length * dim];
    for (int i = 0; i < ids.length; i++) System.arraycopy(table, ids[i] * dim, out, i * dim, dim);
    return out;
  }

  /** dtable (vocab, dim): sum of dout rows per id (this call's contribution; the kernels add it). */
  public static double[] backward(int[] ids, double[] dout, int vocab, int dim) {
    double[] dtable = new double[vocab * dim];
    for (int i = 0; i < ids.length; i++) {
      for (int j = 0; j < dim; j++) dtable[ids[i] * dim + j] += dout[i * dim + j];
    }
    return dtable;
  }
}
