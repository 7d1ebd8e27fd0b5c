package ai.anvil.train.finetune;

import ai.anvil.autograd.Tape;
import ai.anvil.models.SequenceEncoder;
import ai.anvil.models.heads.Pool;
import ai.anvil.models.heads.SequenceClassifier;
import ai.anvil.models.heads.TaskHead;
import ai.anvil.nn.Init;
import ai.anvil.nn.Linear;
import ai.anvil.nn.Module;
import ai.anvil.nn.Parameter;
import ai.anvil.peft.Layers;
import ai.anvil.peft.lora.LoraConfig;
import ai.anvil.peft.lora.LoraLayer;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import ai.anvil.train.Batch;
import ai.anvil.train.RandomState;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What {@code finetune} trains on a BERT base: the {@link SequenceClassifier} head of models.heads
 * (mean pooling, as all-MiniLM-L6-v2 was trained, then dropout and {@code classifier}) on the body,
 * and for LoRA the LoRA terms on the body's targeted Linear layers.
 *
 * <pre>
 *   head.bert.*                 the body (frozen under LoRA)
 *   head.classifier.{weight,bias}  (L, H), (L): always trained (PEFT's modules_to_save)
 *   lora.<layer>.lora_{A,B}.weight  LoRA terms, <layer> the head-relative name with '.' -> '_'
 * </pre>
 */
final class EncoderClassifier extends Module implements RandomState {
  private final SequenceClassifier head;
  private final Map<String, LoraLayer> lora = new LinkedHashMap<>();

  /** body becomes this module's (closed with it); labels in the head's order. */
  EncoderClassifier(SequenceEncoder body, java.util.List<String> labels, Pool pool, long seed) {
    this.head = child("head", new SequenceClassifier(body, labels, pool, body.classifierDropout(), seed));
  }

  SequenceClassifier head() {
    return head;
  }

  /** Freezes the body and puts a LoRA term on each of its targeted Linear layers (the classifier stays trainable). */
  void attachLora(LoraConfig config, long seed) {
    Init init = new Init(seed);
    Holder holder = child("lora", new Holder());
    for (Map.Entry<String, Linear> e : Layers.linears(head).entrySet()) {
      String name = e.getKey();
      if (!head.inBody(name + ".weight") || !config.targets(name)) continue;
      LoraLayer l = holder.add(name.replace('.', '_'),
          new LoraLayer(e.getValue(), config.r(), config.scaling(), config.dropout(), init, init.nextSeed()));
      e.getValue().setDelta(l);
      lora.put(name, l);
    }
    if (lora.isEmpty()) {
      throw new IllegalArgumentException("LoRA target_modules " + config.targetModules() + " match no Linear layer of the body; "
          + "it has " + Layers.linears(head).keySet().stream().filter(n -> head.inBody(n + ".weight")).toList());
    }
    for (Map.Entry<String, Parameter> e : head.namedParameters().entrySet()) e.getValue().setTrainable(!head.inBody(e.getKey()));
  }

  /** The most likely label index of every row of the batch, without a tape. */
  int[] predict(Batch batch) {
    try (Tape.NoGrad ng = Tape.noGrad(); Scope scope = Scope.open()) {
      var d = head.body().device();
      return head.predict(Tensor.ofInts(batch.inputs(), d, batch.rows(), batch.cols()),
          Tensor.ofInts(batch.keyMask(), d, batch.rows(), batch.cols()));
    }
  }

  static int ignoreIndex() {
    return TaskHead.IGNORE_INDEX;
  }

  @Override
  public long[] randomState() {
    return head.randomState();
  }

  @Override
  public void restoreRandomState(long[] state) {
    head.restoreRandomState(state);
  }

  /** A plain container naming the LoRA terms. */
  private static final class Holder extends Module {
    <M extends Module> M add(String name, M m) {
      return child(name, m);
    }
  }
}
