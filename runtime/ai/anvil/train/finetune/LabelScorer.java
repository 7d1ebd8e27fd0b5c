package ai.anvil.train.finetune;

import ai.anvil.autograd.Ops;
import ai.anvil.autograd.Tape;
import ai.anvil.backend.Backend;
import ai.anvil.data.tokenizer.Tokenizer;
import ai.anvil.models.CausalLm;
import ai.anvil.tensor.DType;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;

/**
 * Classification by generation: each candidate label is scored by the summed log-probability of its
 * tokens after the example's prompt (teacher forcing, all candidates of a batch of examples in one
 * forward), and the most likely one is the prediction.
 */
public final class LabelScorer {
  private final CausalLm model;
  private final Tokenizer tokenizer;
  private final String separator;
  private final List<String> labels;
  private final int block;
  private final int rowsPerBatch;

  public LabelScorer(CausalLm model, Tokenizer tokenizer, String separator, List<String> labels, int block, int rowsPerBatch) {
    this.model = model;
    this.tokenizer = tokenizer;
    this.separator = separator;
    this.labels = List.copyOf(labels);
    this.block = block;
    this.rowsPerBatch = Math.max(labels.size(), rowsPerBatch / labels.size() * labels.size());
  }

  /** The index (in labels) of the predicted label of each example. */
  public int[] predict(List<Examples.Example> examples) {
    int[] out = new int[examples.size()];
    int perBatch = rowsPerBatch / labels.size();
    for (int i = 0; i < examples.size(); i += perBatch) {
      List<Examples.Example> part = examples.subList(i, Math.min(examples.size(), i + perBatch));
      double[] scores = scores(part);
      for (int e = 0; e < part.size(); e++) {
        int best = 0;
        for (int k = 1; k < labels.size(); k++) if (scores[e * labels.size() + k] > scores[e * labels.size() + best]) best = k;
        out[i + e] = best;
      }
    }
    return out;
  }

  /** The share of examples whose predicted label is their own. */
  public double accuracy(List<Examples.Example> examples) {
    int[] predicted = predict(examples);
    int right = 0;
    for (int i = 0; i < predicted.length; i++) if (labels.get(predicted[i]).equals(examples.get(i).label())) right++;
    return (double) right / examples.size();
  }

  /** log p(label | prompt) for every (example, label), example-major. */
  private double[] scores(List<Examples.Example> examples) {
    List<Examples.Encoded> rows = new ArrayList<>();
    for (Examples.Example e : examples) {
      for (String label : labels) rows.add(Examples.encode(tokenizer, e, label, separator, block, labels));
    }
    int cols = 1;
    for (Examples.Encoded r : rows) cols = Math.max(cols, r.length());
    int n = rows.size();
    int[] inputs = new int[n * cols], targets = new int[n * cols];
    java.util.Arrays.fill(targets, CausalLm.IGNORE_INDEX);
    for (int r = 0; r < n; r++) rows.get(r).write(inputs, targets, r * cols, CausalLm.IGNORE_INDEX);
    float[] losses;
    try (Tape.NoGrad ng = Tape.noGrad(); Scope scope = Scope.open()) {
      Tensor hidden = model.hidden(Tensor.ofInts(inputs, model.device(), n, cols));
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
