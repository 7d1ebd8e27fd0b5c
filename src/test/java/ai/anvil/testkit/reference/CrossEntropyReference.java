package ai.anvil.testkit.reference;

/**
 * Fused log-softmax + negative log-likelihood in fp64: the oracle for native/cpu/cross_entropy.cpp.
 * logits (rows, stride) whose first vocab columns are real; the padding is never read and gets zero
 * gradient; rows whose target is ignoreIndex give zero loss and zero gradient.
 */
public final class CrossEntropyReference {
  private CrossEntropyReference() {}

  /** losses (rows), loss = sum(losses) / normalizer. */
  public record Forward(double[] losses, double loss) {}

  public static Forward forward(double[] logits, int[] targets, int vocab, int stride, int ignoreIndex,
                                double normalizer) {
    int rows = targets.length;
    double[] losses = new double[rows];
    double total = 0;
    for (int r = 0; r < rows; r++) {
      if (targets[r] == ignoreIndex) continue;
      losses[r] = logSumExp(logits, r * stride, vocab) - logits[r * stride + targets[r]];
      total += losses[r];
    }
    return new Forward(losses, total / normalizer);
  }

  /** dlogits (rows, stride) = (softmax - onehot(target)) * grad / normalizer; 0 on padding, ignored rows. */
  public static double[] backward(double[] logits, int[] targets, int vocab, int stride, int ignoreIndex,
                                  double normalizer, double grad) {
    int rows = targets.length;
    double[] d = new double[rows * stride];
    for (int r = 0; r < rows; r++) {
      if (targets[r] == ignoreIndex) continue;
      int o = r * stride;
      double lse = logSumExp(logits, o, vocab);
      for (int j = 0; j < vocab; j++) {
        d[o + j] = (Math.exp(logits[o + j] - lse) - (j == targets[r] ? 1 : 0)) * grad / normalizer;
      }
    }
    return d;
  }

  private static double logSumExp(double[] x, int offset, int n) {
    double max = Double.NEGATIVE_INFINITY, sum = 0;
    for (int j = 0; j < n; j++) max = Math.max(max, x[offset + j]);
    for (int j = 0; j < n; j++) sum += Math.exp(x[offset + j] - max);
    return max + Math.log(sum);
  }
}
