package ai.anvil.peft.prompt;

import ai.anvil.autograd.Ops;
import ai.anvil.autograd.ShapeOps;
import ai.anvil.models.SequenceEncoder;
import ai.anvil.models.bert.Bert;
import ai.anvil.nn.Module;
import ai.anvil.tensor.DType;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;

/**
 * A BERT body with a {@link SoftPrompt} before every sentence, as PEFT's prompt tuning feeds BERT: the
 * P rows then the sentence's word embeddings, positions 0..P+T-1, token type 0, the prompt never masked;
 * or with a {@link BertPrefix}, whose keys and values every layer's queries see first (the sentence keeps
 * positions 0..T-1). encode gives the sentence's T states only (the prompt acts through attention), so a
 * head pools what it would without it. Everything else is the BERT's; the prompt or prefix is not among
 * {@link #taskModules()} (the caller registers it where it wants it named).
 */
public final class PromptedEncoder implements SequenceEncoder {
  private final Bert bert;
  private final SoftPrompt prompt;
  private final BertPrefix prefix;

  /** Prefix tuning of bert. */
  public PromptedEncoder(Bert bert, BertPrefix prefix) {
    if (prefix.keyValuePrefix().size() != bert.config().numHiddenLayers()
        || prefix.keyValuePrefix().get(0)[0].dim(1) != bert.hiddenSize()) {
      throw new IllegalArgumentException("PromptedEncoder: the prefix was made for another BERT shape");
    }
    this.bert = bert;
    this.prompt = null;
    this.prefix = prefix;
  }

  /** Prompt tuning of bert. */
  public PromptedEncoder(Bert bert, SoftPrompt prompt) {
    if (prompt.softPrompt().dim(1) != bert.hiddenSize()) {
      throw new IllegalArgumentException("PromptedEncoder: prompt rows of " + prompt.softPrompt().dim(1) + " for a BERT of "
          + bert.hiddenSize());
    }
    if (prompt.length() >= bert.maxLength()) {
      throw new IllegalArgumentException("PromptedEncoder: " + prompt.length() + " virtual tokens leave no room in "
          + bert.maxLength() + " positions");
    }
    this.bert = bert;
    this.prompt = prompt;
    this.prefix = null;
  }

  public Bert bert() {
    return bert;
  }

  /** The soft prompt, or null with a prefix. */
  public SoftPrompt prompt() {
    return prompt;
  }

  /** ids, keyMask I32 (B, T) (keyMask null: all real) -> (B, T, H), T <= maxLength(). */
  @Override
  public Tensor encode(Tensor ids, Tensor keyMask) {
    if (ids.rank() != 2 || ids.dtype() != DType.I32) {
      throw new IllegalArgumentException("PromptedEncoder.encode: ids must be I32 (B, T), got " + ids.shape() + " " + ids.dtype());
    }
    if (keyMask != null && !keyMask.shape().equals(ids.shape())) {
      throw new IllegalArgumentException("PromptedEncoder.encode: keyMask " + keyMask.shape() + " differs from ids " + ids.shape());
    }
    long b = ids.dim(0), t = ids.dim(1);
    if (t > maxLength()) throw new IllegalArgumentException("PromptedEncoder.encode: " + t + " tokens exceed " + maxLength());
    Tensor words = Ops.embedding(ids, bert.wordEmbeddings());                                // (B, T, H)
    if (prefix != null) return bert.forwardEmbeds(words, null, keyMask, prefix.keyValuePrefix());
    int p = prompt.length();
    Tensor x = ShapeOps.concat(1, ShapeOps.repeat(prompt.softPrompt(), b), words);           // (B, P+T, H)
    int[] mask = new int[Math.toIntExact(b * (p + t))];
    int[] real = keyMask == null ? null : keyMask.toIntArray();
    for (int r = 0; r < b; r++) {
      Arrays.fill(mask, r * (int) (p + t), r * (int) (p + t) + p, 1);
      for (int j = 0; j < t; j++) mask[r * (int) (p + t) + p + j] = real == null ? 1 : real[(int) (r * t) + j];
    }
    Tensor hidden = bert.forwardEmbeds(x, null, Tensor.ofInts(mask, bert.device(), b, p + t));   // (B, P+T, H)
    return ShapeOps.narrow(hidden, 1, p, t);
  }

  @Override
  public int hiddenSize() {
    return bert.hiddenSize();
  }

  @Override
  public int vocabSize() {
    return bert.vocabSize();
  }

  /** The BERT's positions less the prompt's. */
  @Override
  public int maxLength() {
    return bert.maxLength() - (prompt == null ? 0 : prompt.length());
  }

  @Override
  public Device device() {
    return bert.device();
  }

  @Override
  public boolean causal() {
    return false;
  }

  @Override
  public Tensor tokenEmbeddings() {
    return bert.tokenEmbeddings();
  }

  @Override
  public Map<String, Module> taskModules() {
    return bert.taskModules();
  }

  @Override
  public String modelType() {
    return bert.modelType();
  }

  @Override
  public double classifierDropout() {
    return bert.classifierDropout();
  }

  @Override
  public void train(boolean on) {
    bert.train(on);
  }

  /** The BERT alone (the prompt or prefix is saved by whoever owns it). */
  @Override
  public void save(Path dir) throws IOException {
    bert.save(dir);
  }
}
