package ai.anvil.models.heads;

import ai.anvil.autograd.Ops;
import ai.anvil.models.SequenceEncoder;
import ai.anvil.nn.Init;
import ai.anvil.nn.Linear;
import ai.anvil.tensor.DType;
import ai.anvil.tensor.Tensor;
import java.util.List;

/**
 * Sequence classification on any body (HF {@code BertForSequenceClassification},
 * {@code GPT2ForSequenceClassification}): hidden states (B, T, H) -> pooled (B, H) ({@link Pool}) ->
 * dropout -> linear to numLabels -> logits (B, numLabels), trained with cross-entropy.
 *
 * <p>Names are HF's: the body under {@code bert.} / {@code transformer.}, the layer
 * {@code classifier.weight} (numLabels, H) and {@code classifier.bias} on BERT-like bodies, and
 * {@code score.weight} without bias on GPT-2, as the HF classes have them. Its weight is N(0, 0.02), bias
 * zero (HF's init).
 */
public final class SequenceClassifier extends TaskHead {
  private final Linear classifier;
  private final Pool pool;
  private final List<String> labels;

  /**
   * @param labels the label names, index = class id (numLabels = labels.size() >= 2)
   * @param pool how rows are pooled; {@link Pool#defaultFor} gives HF's choice
   * @param dropout before the classifier (HF: the body's hidden dropout, {@link SequenceEncoder#classifierDropout})
   */
  public SequenceClassifier(SequenceEncoder body, List<String> labels, Pool pool, double dropout, long seed) {
    super(body, dropout, new Init(seed ^ 0x5EC1A55L).nextSeed());
    if (labels.size() < 2) throw new IllegalArgumentException("a sequence classifier needs at least 2 labels, got " + labels);
    pool.check(body);
    this.pool = pool;
    this.labels = List.copyOf(labels);
    boolean gpt = body.modelType().equals("gpt2");
    this.classifier = child(gpt ? "score" : "classifier",
        new Linear(body.hiddenSize(), labels.size(), !gpt, 0.02, new Init(seed), body.device()));
  }

  /** Labels named LABEL_0 .. LABEL_{n-1}, as HF names them by default. */
  public static List<String> defaultLabels(int numLabels) {
    if (numLabels < 2) throw new IllegalArgumentException("numLabels must be >= 2, got " + numLabels);
    return java.util.stream.IntStream.range(0, numLabels).mapToObj(i -> "LABEL_" + i).toList();
  }

  public int numLabels() {
    return labels.size();
  }

  public List<String> labels() {
    return labels;
  }

  public Pool pool() {
    return pool;
  }

  /** The classification layer (numLabels, H). */
  public Linear classifier() {
    return classifier;
  }

  @Override
  public String kind() {
    return "sequence_classification";
  }

  @Override
  public String architecture() {
    return HeadCheckpoint.architecture(body().modelType(), "ForSequenceClassification");
  }

  /** ids I32 (B, T), keyMask I32 (B, T) or null -> logits (B, numLabels). */
  public Tensor logits(Tensor ids, Tensor keyMask) {
    checkInputs("SequenceClassifier.logits", ids, keyMask);
    Tensor hidden = body().encode(ids, keyMask);                               // (B, T, H)
    return classifier.forward(dropout(pool.apply(body(), hidden, keyMask)));   // (B, numLabels)
  }

  /**
   * Cross-entropy: labels I32 (B) (class ids, or {@link #IGNORE_INDEX} for rows not scored) -> a
   * one-element tensor, the sum of row losses divided by normalizer (the scored rows of the whole
   * accumulation window; for one batch the scored-row count gives the mean).
   */
  public Tensor loss(Tensor ids, Tensor keyMask, Tensor labels, double normalizer) {
    if (labels.rank() != 1 || labels.dtype() != DType.I32 || labels.dim(0) != ids.dim(0)) {
      throw new IllegalArgumentException("SequenceClassifier.loss: labels must be I32 (" + ids.dim(0) + "), got "
          + labels.shape() + " " + labels.dtype());
    }
    checkLabels("SequenceClassifier.loss", labels, numLabels());
    return Ops.crossEntropy(logits(ids, keyMask), labels, numLabels(), IGNORE_INDEX, normalizer);
  }

  /** The most likely class of each row: ids, keyMask as in {@link #logits} -> B class ids. No tape needed. */
  public int[] predict(Tensor ids, Tensor keyMask) {
    return argmax(logits(ids, keyMask).toFloatArray(), numLabels());
  }
}
