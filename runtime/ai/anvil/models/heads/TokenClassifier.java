package ai.anvil.models.heads;

import ai.anvil.autograd.Ops;
import ai.anvil.models.SequenceEncoder;
import ai.anvil.nn.Init;
import ai.anvil.nn.Linear;
import ai.anvil.tensor.DType;
import ai.anvil.tensor.Tensor;
import java.util.List;

/**
 * Token classification on any body (HF {@code BertForTokenClassification}, {@code GPT2ForTokenClassification}):
 * hidden states (B, T, H) -> dropout -> linear to numLabels -> logits (B, T, numLabels), one class per
 * token, cross-entropy over the scored tokens (padding and sub-word continuations get
 * {@link #IGNORE_INDEX}). The layer is {@code classifier.weight} (numLabels, H) and {@code classifier.bias},
 * HF's names on every body; weight N(0, 0.02), bias zero.
 */
public final class TokenClassifier extends TaskHead {
  private final Linear classifier;
  private final List<String> labels;

  /** @param labels the label names, index = class id (at least 2) */
  public TokenClassifier(SequenceEncoder body, List<String> labels, double dropout, long seed) {
    super(body, dropout, new Init(seed ^ 0x70CE4L).nextSeed());
    if (labels.size() < 2) throw new IllegalArgumentException("a token classifier needs at least 2 labels, got " + labels);
    this.labels = List.copyOf(labels);
    this.classifier = child("classifier", new Linear(body.hiddenSize(), labels.size(), true, 0.02, new Init(seed),
        body.device()));
  }

  public int numLabels() {
    return labels.size();
  }

  public List<String> labels() {
    return labels;
  }

  public Linear classifier() {
    return classifier;
  }

  @Override
  public String kind() {
    return "token_classification";
  }

  @Override
  public String architecture() {
    return HeadCheckpoint.architecture(body().modelType(), "ForTokenClassification");
  }

  /** ids I32 (B, T), keyMask I32 (B, T) or null -> logits (B, T, numLabels). */
  public Tensor logits(Tensor ids, Tensor keyMask) {
    checkInputs("TokenClassifier.logits", ids, keyMask);
    return classifier.forward(dropout(body().encode(ids, keyMask)));
  }

  /**
   * Cross-entropy over tokens: labels I32 (B, T), class ids or {@link #IGNORE_INDEX} -> one element,
   * the sum of token losses / normalizer (scored tokens of the whole accumulation window).
   */
  public Tensor loss(Tensor ids, Tensor keyMask, Tensor labels, double normalizer) {
    if (labels.dtype() != DType.I32 || !labels.shape().equals(ids.shape())) {
      throw new IllegalArgumentException("TokenClassifier.loss: labels must be I32 " + ids.shape() + ", got " + labels.shape()
          + " " + labels.dtype());
    }
    checkLabels("TokenClassifier.loss", labels, numLabels());
    return Ops.crossEntropy(logits(ids, keyMask), labels, numLabels(), IGNORE_INDEX, normalizer);
  }

  /** The most likely class of each token: (B, T) ids -> B*T class ids, row-major. */
  public int[] predict(Tensor ids, Tensor keyMask) {
    return argmax(logits(ids, keyMask).toFloatArray(), numLabels());
  }
}
