package ai.anvil.models.heads;

import ai.anvil.autograd.Ops;
import ai.anvil.models.SequenceEncoder;
import ai.anvil.nn.Init;
import ai.anvil.nn.LayerNorm;
import ai.anvil.nn.Linear;
import ai.anvil.nn.Module;
import ai.anvil.tensor.DType;
import ai.anvil.tensor.Tensor;

/**
 * A language-model head on any body: logits over the vocabulary at every position, the decoder tied to
 * the body's token table ({@link SequenceEncoder#tokenEmbeddings}).
 *
 * <ul>
 *   <li>On a bidirectional body (masked LM) it is BERT's prediction head, with BertForMaskedLM's names:
 *       {@code cls.predictions.transform.dense} (H -> H), GELU, {@code cls.predictions.transform.LayerNorm},
 *       then the tied decoder plus {@code cls.predictions.bias} (vocabSize). A fresh head starts as HF
 *       initializes one (weights N(0, 0.02), LayerNorm one/zero, bias zero), so a BertModel without an MLM
 *       head (all-MiniLM-L6-v2) can be pre-trained further with masked LM.</li>
 *   <li>On a causal body (GPT) it is GPT-2's head: the tied table alone, no parameters of its own.</li>
 * </ul>
 */
public final class LmHead extends TaskHead {
  private final Linear transform;
  private final LayerNorm transformNorm;
  private final Tensor bias;
  private final boolean tanhGelu;

  /**
   * @param layerNormEps epsilon of the transform's LayerNorm (BERT: its config's layer_norm_eps)
   * @param tanhGelu whether the transform's GELU is the tanh form (BERT: hidden_act gelu_new)
   */
  public LmHead(SequenceEncoder body, double layerNormEps, boolean tanhGelu, long seed) {
    super(body, 0.0, seed);
    this.tanhGelu = tanhGelu;
    if (body.causal()) {
      transform = null;
      transformNorm = null;
      bias = null;
    } else {
      Init init = new Init(seed);
      Group predictions = child("cls", new Group()).add("predictions", new Group());
      Group t = predictions.add("transform", new Group());
      long h = body.hiddenSize();
      transform = t.add("dense", new Linear(h, h, true, 0.02, init, body.device()));
      transformNorm = t.add("LayerNorm", new LayerNorm(h, true, layerNormEps, body.device()));
      bias = predictions.param("bias", Init.constant(body.device(), 0.0, body.vocabSize()));
    }
  }

  /** BERT's head for a BERT body (its LayerNorm eps and GELU form), GPT-2's for a causal one. */
  public static LmHead on(SequenceEncoder body, long seed) {
    if (body instanceof ai.anvil.models.bert.Bert b) {
      return new LmHead(body, b.config().layerNormEps(), b.config().tanhGelu(), seed);
    }
    return new LmHead(body, 1e-12, false, seed);
  }

  public int vocabSize() {
    return body().vocabSize();
  }

  @Override
  public String kind() {
    return "lm";
  }

  @Override
  public String architecture() {
    return body().causal() ? HeadCheckpoint.architecture(body().modelType(), "LMHeadModel")
        : HeadCheckpoint.architecture(body().modelType(), "ForMaskedLM");
  }

  /** ids I32 (B, T), keyMask I32 (B, T) or null -> logits (B, T, Vt); Vt >= vocabSize, columns past it are padding. */
  public Tensor logits(Tensor ids, Tensor keyMask) {
    checkInputs("LmHead.logits", ids, keyMask);
    Tensor h = body().encode(ids, keyMask);                                                      // (B, T, H)
    if (transform != null) h = transformNorm.forward(Ops.gelu(transform.forward(h), tanhGelu));  // (B, T, H)
    return Ops.linear(h, body().tokenEmbeddings(), bias);
  }

  /**
   * Cross-entropy at the scored positions: labels I32 (B, T), the id to predict or {@link #IGNORE_INDEX}
   * -> one element, the sum of token losses / normalizer (scored tokens of the whole accumulation window).
   * For masked LM the labels hold the original ids of the chosen tokens; for causal LM the next ids.
   */
  public Tensor loss(Tensor ids, Tensor keyMask, Tensor labels, double normalizer) {
    if (labels.dtype() != DType.I32 || !labels.shape().equals(ids.shape())) {
      throw new IllegalArgumentException("LmHead.loss: labels must be I32 " + ids.shape() + ", got " + labels.shape() + " "
          + labels.dtype());
    }
    return Ops.crossEntropy(logits(ids, keyMask), labels, vocabSize(), IGNORE_INDEX, normalizer);
  }

  /** A container for the name levels cls.predictions.transform. */
  static final class Group extends Module {
    <M extends Module> M add(String name, M module) {
      return child(name, module);
    }

    Tensor param(String name, Tensor value) {
      return parameter(name, value);
    }
  }
}
