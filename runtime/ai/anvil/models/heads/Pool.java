package ai.anvil.models.heads;

import ai.anvil.models.SequenceEncoder;
import ai.anvil.models.bert.Bert;
import ai.anvil.models.bert.Pooling;
import ai.anvil.tensor.Tensor;
import java.util.Locale;

/**
 * How a sequence head turns a body's hidden states (B, T, H) into one vector per row (B, H). All are
 * weighted sums on the recorded ops (see {@link Pooling}), so gradients reach the body.
 */
public enum Pool {
  /** BERT's pooler, tanh(dense(h[:, 0])), as BertForSequenceClassification uses; needs a body with one. */
  POOLER,
  /** The first token's state ([CLS]) as it is. */
  CLS,
  /** The mean over real tokens (sentence-transformers' pooling; all-MiniLM-L6-v2 was trained with it). */
  MEAN,
  /** The last real token's state: what summarizes a row of a causal body (GPT2ForSequenceClassification). */
  LAST;

  /** hidden (B, T, H), keyMask I32 (B, T) or null -> (B, H). */
  public Tensor apply(SequenceEncoder body, Tensor hidden, Tensor keyMask) {
    return switch (this) {
      case POOLER -> pooler(body).pooledOutput(hidden);
      case CLS -> Pooling.cls(hidden);
      case MEAN -> Pooling.mean(hidden, keyMask);
      case LAST -> Pooling.last(hidden, keyMask);
    };
  }

  /** Refuses a pooling the body cannot give: the pooler on a body without one, the first token of a causal body. */
  public void check(SequenceEncoder body) {
    if (this == POOLER) pooler(body);
    if (this == CLS && body.causal()) {
      throw new IllegalArgumentException("pooling cls on a causal " + body.modelType()
          + " body: its first token sees nothing else; use last or mean");
    }
  }

  /** HF's choice for the body: the pooler of a BERT that has one, the last token of a causal body, else CLS. */
  public static Pool defaultFor(SequenceEncoder body) {
    if (body instanceof Bert b && b.hasPooler()) return POOLER;
    return body.causal() ? LAST : CLS;
  }

  /** pooler, cls, mean or last (any case). */
  public static Pool parse(String name) {
    try {
      return valueOf(name.trim().toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException | NullPointerException e) {
      throw new IllegalArgumentException("pooling must be pooler, cls, mean or last, got " + name);
    }
  }

  public String key() {
    return name().toLowerCase(Locale.ROOT);
  }

  private static Bert pooler(SequenceEncoder body) {
    if (body instanceof Bert b && b.hasPooler()) return b;
    throw new IllegalArgumentException("pooling pooler needs a BERT body with a pooler (pooler.dense); this "
        + body.modelType() + " body has none: use cls, mean or last");
  }
}
