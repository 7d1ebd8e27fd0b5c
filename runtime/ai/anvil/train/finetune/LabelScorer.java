package ai.anvil.train.finetune;

import ai.anvil.data.tokenizer.Tokenizer;
import ai.anvil.infer.LabelLikelihood;
import ai.anvil.models.CausalLm;
import java.util.ArrayList;
import java.util.List;

/**
 * Classification by generation: each candidate label is scored by the summed log-probability of its
 * tokens after the example's prompt ({@link LabelLikelihood}: teacher forcing, all candidates of a batch
 * of examples in one forward), and the most likely one is the prediction.
 */
public final class LabelScorer {
  private final Tokenizer tokenizer;
  private final String separator;
  private final List<String> labels;
  private final List<int[]> labelTokens = new ArrayList<>();
  private final LabelLikelihood likelihood;
  private final int rowsPerBatch;

  public LabelScorer(CausalLm model, Tokenizer tokenizer, String separator, List<String> labels, int block, int rowsPerBatch) {
    this.tokenizer = tokenizer;
    this.separator = separator;
    this.labels = List.copyOf(labels);
    this.rowsPerBatch = Math.max(labels.size(), rowsPerBatch / labels.size() * labels.size());
    this.likelihood = new LabelLikelihood(model, block, this.rowsPerBatch);
    for (String label : labels) {
      int[] ids = tokenizer.encode(Examples.fit(tokenizer, label));
      if (ids.length == 0) throw new IllegalArgumentException("label '" + label + "' has no tokens in this vocabulary");
      labelTokens.add(ids);
    }
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

  /** The candidate labels; {@link #predict} answers indices into this list. */
  public List<String> labels() {
    return labels;
  }

  /** The predicted label of each example. */
  public List<String> predictLabels(List<Examples.Example> examples) {
    List<String> out = new ArrayList<>();
    for (int i : predict(examples)) out.add(labels.get(i));
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
    List<int[]> prompts = new ArrayList<>(), continuations = new ArrayList<>();
    for (Examples.Example e : examples) {
      int[] prompt = tokenizer.encode(Examples.fit(tokenizer, e.text() + separator));
      for (int[] label : labelTokens) {
        prompts.add(prompt);
        continuations.add(label);
      }
    }
    return likelihood.score(prompts, continuations);
  }
}
