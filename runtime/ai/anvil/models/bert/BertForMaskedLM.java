package ai.anvil.models.bert;

import ai.anvil.autograd.Ops;
import ai.anvil.models.bert.Bert.Group;
import ai.anvil.nn.Init;
import ai.anvil.nn.LayerNorm;
import ai.anvil.nn.Linear;
import ai.anvil.nn.Module;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Tensor;

/**
 * BERT with its masked-LM head (Hugging Face {@code BertForMaskedLM}): the encoder under {@code bert.} (no
 * pooler) and {@code cls.predictions}: a transform (dense H -> H, GELU, LayerNorm) and a decoder whose
 * weight is the word-embedding table itself (tied) plus its own bias {@code cls.predictions.bias}.
 * Parameter names are HF's ({@code bert.embeddings.word_embeddings.weight},
 * {@code cls.predictions.transform.dense.weight}, {@code cls.predictions.transform.LayerNorm.weight},
 * {@code cls.predictions.bias}); the tied decoder weight is not a parameter of its own, so its gradient
 * and the embedding lookup's add up in one tensor, as in PyTorch.
 */
public final class BertForMaskedLM extends Module {
  /** Labels with this value are not scored (HF's -100). */
  public static final int IGNORE_INDEX = -100;

  private final BertConfig config;
  private final Bert bert;
  private final Linear transform;
  private final LayerNorm transformNorm;
  private final Tensor decoderBias;

  /** A freshly initialized model (HF's init; see {@link Bert}), decoder bias zero. */
  public BertForMaskedLM(BertConfig config, long seed, Device device) {
    this.config = config;
    Init init = new Init(seed);
    this.bert = child("bert", new Bert(config, false, init.nextSeed(), device));
    Group predictions = child("cls", new Group()).add("predictions", new Group());
    Group t = predictions.add("transform", new Group());
    this.transform = t.add("dense", Bert.linear(config.hiddenSize(), config.hiddenSize(), config, init, device));
    this.transformNorm = t.add("LayerNorm", new LayerNorm(config.hiddenSize(), true, config.layerNormEps(), device));
    this.decoderBias = predictions.addParameter("bias", Init.constant(device, 0.0, config.vocabSize()));
  }

  public BertConfig config() {
    return config;
  }

  public Device device() {
    return bert.device();
  }

  /** The encoder (its parameters are this model's {@code bert.*}). */
  public Bert bert() {
    return bert;
  }

  /**
   * Token logits: ids, tokenTypes (or null), attentionMask (or null) as in {@link Bert#forward}
   * -> (B, T, vocabSize).
   */
  public Tensor logits(Tensor ids, Tensor tokenTypes, Tensor attentionMask) {
    Tensor h = bert.forward(ids, tokenTypes, attentionMask);
    Tensor x = transformNorm.forward(Ops.gelu(transform.forward(h), config.tanhGelu()));          // (B, T, H)
    return Ops.linear(x, bert.wordEmbeddings(), decoderBias);                                      // (B, T, V)
  }

  /**
   * Masked-LM cross-entropy: labels I32 (B, T) hold the original id at scored positions and
   * {@link #IGNORE_INDEX} elsewhere. Returns a one-element tensor: the sum of token losses divided by
   * normalizer (the scored-token count of the whole accumulation window; for one batch,
   * {@code Ops.countTargets(labels, IGNORE_INDEX)}, which gives HF's mean).
   */
  public Tensor loss(Tensor ids, Tensor tokenTypes, Tensor attentionMask, Tensor labels, double normalizer) {
    if (!labels.shape().equals(ids.shape())) {
      throw new IllegalArgumentException("BertForMaskedLM.loss: labels " + labels.shape() + " differ from ids " + ids.shape());
    }
    return Ops.crossEntropy(logits(ids, tokenTypes, attentionMask), labels, config.vocabSize(), IGNORE_INDEX, normalizer);
  }
}
