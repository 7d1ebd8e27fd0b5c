package ai.anvil.peft.prompt;

import ai.anvil.models.gpt.Gpt;
import ai.anvil.models.gpt.GptExtension;
import ai.anvil.nn.Embedding;
import ai.anvil.nn.Init;
import ai.anvil.nn.Module;
import ai.anvil.tensor.Tensor;
import java.util.SplittableRandom;

/**
 * Prompt tuning of a task head's body (models.heads): P trainable rows (P, C) put before every
 * sentence's word embeddings, the body frozen. On a GPT body it is the model's {@link GptExtension}
 * (as {@link PromptTuning}, without the PeftModel tree); on a BERT body {@link PromptedEncoder} puts it
 * before the words. The rows start as the embeddings of P random vocabulary tokens (PEFT's
 * SAMPLE_VOCAB): of the scale the body expects. Parameter {@code embedding.weight} (P, C).
 */
public final class SoftPrompt extends Module implements GptExtension {
  private final Embedding embedding;
  private Gpt installedOn;

  /** P rows copied from random rows [0, vocab) of table (>= vocab rows, C). */
  public SoftPrompt(Tensor table, int vocab, int length, long seed) {
    if (length < 1) throw new IllegalArgumentException("virtual tokens must be >= 1, got " + length);
    if (table.rank() != 2 || table.dim(0) < vocab || vocab < 1) {
      throw new IllegalArgumentException("SoftPrompt: table " + table.shape() + " lacks " + vocab + " rows");
    }
    int w = Math.toIntExact(table.dim(1));
    this.embedding = child("embedding", new Embedding(length, w, 0.02, new Init(seed), table.device()));
    SplittableRandom random = new SplittableRandom(seed);
    float[] all = table.toFloatArray();
    float[] rows = new float[length * w];
    for (int p = 0; p < length; p++) System.arraycopy(all, random.nextInt(vocab) * w, rows, p * w, w);
    embedding.weight().copyFrom(rows);
  }

  /** A new prompt on gpt, installed as its extension (there must be none); closing it takes it out. */
  public static SoftPrompt attach(Gpt gpt, int length, long seed) {
    if (gpt.extension() != null) throw new IllegalStateException("SoftPrompt: the GPT already has an extension installed");
    if (length >= gpt.config().blockSize()) {
      throw new IllegalArgumentException("virtual tokens must be below the context " + gpt.config().blockSize() + ", got " + length);
    }
    SoftPrompt p = new SoftPrompt(gpt.tokenEmbedding(), gpt.vocabSize(), length, seed);
    gpt.setExtension(p);
    p.installedOn = gpt;
    return p;
  }

  public int length() {
    return (int) embedding.weight().dim(0);
  }

  /** The rows (P, C). */
  @Override
  public Tensor softPrompt() {
    return embedding.weight();
  }

  @Override
  public void close() {
    if (installedOn != null && installedOn.extension() == this) installedOn.setExtension(null);
    installedOn = null;
    super.close();
  }
}
