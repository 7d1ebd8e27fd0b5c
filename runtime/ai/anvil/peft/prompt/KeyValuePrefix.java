package ai.anvil.peft.prompt;

import ai.anvil.models.gpt.Gpt;
import ai.anvil.models.gpt.GptConfig;
import ai.anvil.models.gpt.GptExtension;
import ai.anvil.nn.Module;
import ai.anvil.tensor.Tensor;

/**
 * Prefix tuning of a GPT that is a task head's body (models.heads): per layer P trainable keys and
 * values (P, C) that every query sees first, installed as the GPT's {@link GptExtension} (as
 * {@link PrefixTuning} does, without the PeftModel tree), initialized the same way. Parameters
 * {@code h.N.keys} and {@code h.N.values}.
 */
public final class KeyValuePrefix extends Module implements GptExtension {
  private final Tensor[][] prefixes;
  private Gpt installedOn;

  private KeyValuePrefix(Gpt gpt, int length, long seed) {
    GptConfig c = gpt.config();
    float[][][] init = PrefixTuning.initialValues(gpt, length, seed);
    Holder h = child("h", new Holder());
    prefixes = new Tensor[c.nLayer()][];
    for (int l = 0; l < c.nLayer(); l++) {
      Holder layer = h.add(Integer.toString(l), new Holder());
      prefixes[l] = new Tensor[] {
          layer.param("keys", Tensor.of(init[l][0], gpt.device(), length, c.nEmbd())),
          layer.param("values", Tensor.of(init[l][1], gpt.device(), length, c.nEmbd()))};
    }
  }

  /** A new prefix of length P on gpt, installed as its extension (there must be none); closing it takes it out. */
  public static KeyValuePrefix attach(Gpt gpt, int length, long seed) {
    if (gpt.extension() != null) throw new IllegalStateException("KeyValuePrefix: the GPT already has an extension installed");
    if (length < 1 || length >= gpt.config().blockSize()) {
      throw new IllegalArgumentException("virtual tokens must be in [1, " + gpt.config().blockSize() + "), got " + length);
    }
    KeyValuePrefix p = new KeyValuePrefix(gpt, length, seed);
    gpt.setExtension(p);
    p.installedOn = gpt;
    return p;
  }

  @Override
  public Tensor[] keyValuePrefix(int layer) {
    return prefixes[layer].clone();
  }

  @Override
  public int prefixLength() {
    return (int) prefixes[0][0].dim(0);
  }

  @Override
  public void close() {
    if (installedOn != null && installedOn.extension() == this) installedOn.setExtension(null);
    installedOn = null;
    super.close();
  }

  /** A plain container for the name levels. */
  private static final class Holder extends Module {
    <M extends Module> M add(String name, M m) {
      return child(name, m);
    }

    Tensor param(String name, Tensor value) {
      return parameter(name, value);
    }
  }
}
