package ai.anvil.peft.prompt;

import ai.anvil.autograd.Ops;
import ai.anvil.autograd.Tape;
import ai.anvil.models.bert.Bert;
import ai.anvil.nn.Module;
import ai.anvil.nn.Parameter;
import ai.anvil.tensor.DType;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Prefix tuning of a BERT body (Li and Liang 2021, without the reparametrization MLP): per layer P
 * trainable keys and values (P, H) that every query sees before the sentence's own, never masked
 * ({@link Bert#forwardEmbeds(Tensor, Tensor, Tensor, List)}); {@link PromptedEncoder} applies it. They start
 * as layer l's key and value projections of the embedding output of P random vocabulary tokens at
 * positions 0..P-1, of the scale attention expects, as {@link PrefixTuning} starts GPT's. Parameters
 * {@code layer.N.keys} and {@code layer.N.values}.
 */
public final class BertPrefix extends Module {
  private final List<Tensor[]> prefixes = new ArrayList<>();

  public BertPrefix(Bert bert, int length, long seed) {
    int layers = bert.config().numHiddenLayers(), w = bert.hiddenSize();
    if (length < 1) throw new IllegalArgumentException("virtual tokens must be >= 1, got " + length);
    Holder layer = child("layer", new Holder());
    float[][][] init = initialValues(bert, length, seed);
    for (int l = 0; l < layers; l++) {
      Holder h = layer.add(Integer.toString(l), new Holder());
      prefixes.add(new Tensor[] {
          h.param("keys", Tensor.of(init[l][0], bert.device(), length, w)),
          h.param("values", Tensor.of(init[l][1], bert.device(), length, w))});
    }
  }

  /** Per layer {keys, values} (P, H). */
  public List<Tensor[]> keyValuePrefix() {
    return prefixes;
  }

  public int length() {
    return (int) prefixes.get(0)[0].dim(0);
  }

  /** Per layer {keys, values} (P*H each): key_l and value_l of LayerNorm(word[token] + position[i] + type[0]). */
  private static float[][][] initialValues(Bert bert, int length, long seed) {
    SplittableRandom random = new SplittableRandom(seed);
    int[] tokens = new int[length], positions = new int[length];
    for (int i = 0; i < length; i++) {
      tokens[i] = random.nextInt(bert.vocabSize());
      positions[i] = Math.min(i, bert.maxLength() - 1);
    }
    Map<String, Parameter> named = bert.namedParameters();
    float[][][] out = new float[bert.config().numHiddenLayers()][2][];
    try (Tape.NoGrad ng = Tape.noGrad(); Scope scope = Scope.open()) {
      Tensor x = Ops.add(Ops.add(Ops.embedding(Tensor.ofInts(tokens, bert.device(), length), bert.wordEmbeddings()),
              Ops.embedding(Tensor.ofInts(positions, bert.device(), length), value(named, "embeddings.position_embeddings.weight"))),
          Ops.embedding(Tensor.zeros(DType.I32, bert.device(), length), value(named, "embeddings.token_type_embeddings.weight")));
      x = Ops.layerNorm(x, value(named, "embeddings.LayerNorm.weight"), value(named, "embeddings.LayerNorm.bias"),
          bert.config().layerNormEps());
      for (int l = 0; l < out.length; l++) {
        String p = "encoder.layer." + l + ".attention.self.";
        out[l][0] = Ops.linear(x, value(named, p + "key.weight"), value(named, p + "key.bias")).toFloatArray();
        out[l][1] = Ops.linear(x, value(named, p + "value.weight"), value(named, p + "value.bias")).toFloatArray();
      }
    }
    return out;
  }

  private static Tensor value(Map<String, Parameter> named, String name) {
    Parameter p = named.get(name);
    if (p == null) throw new IllegalArgumentException("BertPrefix: the BERT has no " + name);
    return p.value();
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
