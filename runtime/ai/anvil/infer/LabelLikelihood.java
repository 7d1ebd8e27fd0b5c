package ai.anvil.infer;

import ai.anvil.autograd.Ops;
import ai.anvil.autograd.Tape;
import ai.anvil.backend.Backend;
import ai.anvil.models.CausalLm;
import ai.anvil.tensor.DType;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import java.util.Arrays;
import java.util.List;

/**
 * log p(continuation | prompt) under a causal LM, summed over the continuation's tokens, for many
 * (prompt, continuation) rows at once: the scoring behind classification by generation and zero- or
 * few-shot prompting, where each candidate label is a continuation and the most likely one wins.
 *
 * <p>A row whose prompt and continuation exceed the context loses the prompt's first tokens (the end of
 * the prompt, nearest the continuation, is kept). Rows are right-padded to the longest of their batch;
 * the mask being causal, padding changes nothing before it. No tape records.
 */
public final class LabelLikelihood {
  private final CausalLm model;
  private final int block;
  private final int rowsPerBatch;

  /**
   * @param block the most input tokens a row may have (the model's context, less any virtual tokens)
   * @param rowsPerBatch rows per forward pass; the logits of one pass take rows * block * vocab floats
   */
  public LabelLikelihood(CausalLm model, int block, int rowsPerBatch) {
    if (block < 2 || block > model.contextLength()) {
      throw new IllegalArgumentException("block must be in [2, " + model.contextLength() + "], got " + block);
    }
    if (rowsPerBatch < 1) throw new IllegalArgumentException("rowsPerBatch must be >= 1, got " + rowsPerBatch);
    this.model = model;
    this.block = block;
    this.rowsPerBatch = rowsPerBatch;
  }

  /** Rows whose logits fit in about 64 MB, at least minRows. */
  public static int rowsFor(CausalLm model, int block, int minRows) {
    long budget = 16L << 20;
    return (int) Math.max(minRows, Math.min(256, budget / ((long) block * model.paddedVocab())));
  }

  /** The context a row may fill. */
  public int block() {
    return block;
  }

  /** The prompt as it is scored: its last tokens, so that prompt + continuation fit block + 1 tokens. */
  public int[] fit(int[] prompt, int continuationLength) {
    if (continuationLength < 1) throw new IllegalArgumentException("a continuation needs at least one token");
    if (continuationLength >= block) {
      throw new IllegalArgumentException("a continuation of " + continuationLength + " tokens leaves no room in a context of " + block);
    }
    int keep = block + 1 - continuationLength;
    int[] p = prompt.length > keep ? Arrays.copyOfRange(prompt, prompt.length - keep, prompt.length) : prompt;
    if (p.length == 0) throw new IllegalArgumentException("an empty prompt gives the first continuation token no context");
    return p;
  }

  /** log p(continuations[i] | prompts[i]) in nats, for every i. */
  public double[] score(List<int[]> prompts, List<int[]> continuations) {
    if (prompts.size() != continuations.size()) {
      throw new IllegalArgumentException(prompts.size() + " prompts but " + continuations.size() + " continuations");
    }
    double[] out = new double[prompts.size()];
    for (int i = 0; i < out.length; i += rowsPerBatch) {
      int j = Math.min(out.length, i + rowsPerBatch);
      double[] part = scoreBatch(prompts.subList(i, j), continuations.subList(i, j));
      System.arraycopy(part, 0, out, i, part.length);
    }
    return out;
  }

  private double[] scoreBatch(List<int[]> prompts, List<int[]> continuations) {
    int n = prompts.size();
    int[][] p = new int[n][];
    int cols = 1;
    for (int r = 0; r < n; r++) {
      p[r] = fit(prompts.get(r), continuations.get(r).length);
      cols = Math.max(cols, p[r].length + continuations.get(r).length - 1);
    }
    // inputs = prompt + continuation without its last token; targets = the continuation at the positions predicting it.
    int[] inputs = new int[n * cols], targets = new int[n * cols];
    Arrays.fill(targets, CausalLm.IGNORE_INDEX);
    for (int r = 0; r < n; r++) {
      int[] c = continuations.get(r);
      int len = p[r].length + c.length - 1;
      for (int t = 0; t < len; t++) {
        inputs[r * cols + t] = t < p[r].length ? p[r][t] : c[t - p[r].length];
        if (t + 1 >= p[r].length) targets[r * cols + t] = c[t + 1 - p[r].length];
      }
    }
    float[] losses;
    try (Tape.NoGrad ng = Tape.noGrad(); Scope scope = Scope.open()) {
      Tensor hidden = model.hidden(Tensor.ofInts(inputs, model.device(), n, cols));   // (n, cols, C)
      Tensor logits = Ops.linear(hidden.reshape((long) n * cols, hidden.dim(2)), model.lmHeadWeight(), null);
      Tensor rowLosses = Tensor.empty(DType.F32, model.device(), (long) n * cols);
      Tensor loss = Tensor.empty(DType.F32, model.device(), 1);
      Backend.of(model.device()).crossEntropy(logits, Tensor.ofInts(targets, model.device(), (long) n * cols), model.vocabSize(),
          CausalLm.IGNORE_INDEX, 1.0, rowLosses, loss);
      losses = rowLosses.toFloatArray();
    }
    double[] out = new double[n];
    for (int r = 0; r < n; r++) {
      for (int t = 0; t < cols; t++) if (targets[r * cols + t] != CausalLm.IGNORE_INDEX) out[r] -= losses[r * cols + t];
    }
    return out;
  }
}
