package ai.anvil.train.finetune;

import ai.anvil.autograd.Tape;
import ai.anvil.io.Json;
import ai.anvil.io.Safetensors;
import ai.anvil.models.SequenceEncoder;
import ai.anvil.models.bert.Bert;
import ai.anvil.models.gpt.Gpt;
import ai.anvil.models.heads.Pool;
import ai.anvil.models.heads.SequenceClassifier;
import ai.anvil.models.heads.TaskHead;
import ai.anvil.nn.Init;
import ai.anvil.nn.Linear;
import ai.anvil.nn.Module;
import ai.anvil.nn.Parameter;
import ai.anvil.peft.Layers;
import ai.anvil.peft.adapter.OutputAdapters;
import ai.anvil.peft.lora.LoraConfig;
import ai.anvil.peft.lora.LoraLayer;
import ai.anvil.peft.prompt.BertPrefix;
import ai.anvil.peft.prompt.KeyValuePrefix;
import ai.anvil.peft.prompt.PromptedEncoder;
import ai.anvil.peft.prompt.SoftPrompt;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import ai.anvil.train.Batch;
import ai.anvil.train.RandomState;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What {@code finetune} trains with a classification head: the {@link SequenceClassifier} of
 * models.heads (pooling, dropout, {@code classifier}/{@code score}) on a BERT or GPT body, and the
 * method's own parameters. The head is trained by every method (PEFT's modules_to_save); the body is
 * trained only by full fine-tuning.
 *
 * <pre>
 *   head.bert.* / head.transformer.*   the body (frozen unless full)
 *   head.classifier.{weight,bias}      (L, H), (L) on BERT; head.score.weight (L, H) on GPT
 *   lora.&lt;layer&gt;.lora_{A,B}.weight    lora: LoRA terms, &lt;layer&gt; the head-relative name with '.' -> '_'
 *   adapter.&lt;layer&gt;.{down,up}.*       adapter: Houlsby bottlenecks on every sublayer's output projection
 *   prompt.embedding.weight            prompt: (P, H) soft prompt before every sentence
 *   prefix.h.N.{keys,values}           prefix on GPT: (P, H) per layer; prefix.layer.N.{keys,values} on BERT
 *   head (method)                      the head alone on the frozen body (a linear probe)
 * </pre>
 */
final class EncoderClassifier extends Module implements RandomState {
  /** The methods with a head, and what each needs. */
  static final List<String> METHODS = List.of("full", "lora", "adapter", "prompt", "prefix", "head");

  /**
   * A method and its settings, as labels.json keeps them.
   *
   * @param lora null unless name is lora
   */
  record Method(String name, LoraConfig lora, int adapterSize, int virtualTokens) {
    Method {
      if (!METHODS.contains(name)) throw new IllegalArgumentException("a head is fine-tuned with " + METHODS + ", got " + name);
      if (name.equals("lora") && lora == null) throw new IllegalArgumentException("method lora needs its LoRA settings");
      if (name.equals("adapter") && adapterSize < 1) throw new IllegalArgumentException("adapter_size must be >= 1, got " + adapterSize);
      if ((name.equals("prompt") || name.equals("prefix")) && virtualTokens < 1) {
        throw new IllegalArgumentException("virtual_tokens must be >= 1, got " + virtualTokens);
      }
    }

    /** Virtual tokens the method puts before a sentence (prompt, prefix), else 0. */
    int shift() {
      return name.equals("prompt") || name.equals("prefix") ? virtualTokens : 0;
    }

    Map<String, Object> toMap() {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("method", name);
      switch (name) {
        case "lora" -> {
          m.put("lora_r", lora.r());
          m.put("lora_alpha", lora.alpha());
          m.put("lora_dropout", lora.dropout());
          m.put("lora_targets", lora.targetModules());
          m.put("use_rslora", lora.rsLora());
        }
        case "adapter" -> m.put("adapter_size", adapterSize);
        case "prompt", "prefix" -> m.put("virtual_tokens", virtualTokens);
        default -> { }
      }
      return m;
    }

    @SuppressWarnings("unchecked")
    static Method fromMap(Map<String, Object> m) {
      String name = Json.getString(m, "method", "");
      LoraConfig lora = null;
      if (name.equals("lora")) {
        Object targets = m.get("lora_targets");
        if (!(targets instanceof List<?>)) throw new IllegalArgumentException("labels.json: lora_targets must be a list, got " + targets);
        lora = new LoraConfig(Json.getInt(m, "lora_r", 0), Json.getDouble(m, "lora_alpha", 0), Json.getDouble(m, "lora_dropout", 0),
            (List<String>) targets, Json.getBoolean(m, "use_rslora", false));
      }
      return new Method(name, lora, Json.getInt(m, "adapter_size", 0), Json.getInt(m, "virtual_tokens", 0));
    }
  }

  private final SequenceClassifier head;
  private final Method method;
  private final boolean trainHead;
  private final Map<String, LoraLayer> lora = new LinkedHashMap<>();

  /**
   * body becomes this module's (closed with it); labels in the head's order; the method attached, the
   * body frozen unless it is full. Throws for prompt or prefix on a body other than BERT or GPT.
   */
  EncoderClassifier(SequenceEncoder body, List<String> labels, Pool pool, Method method, long seed) {
    this(body, labels, pool, method, true, seed);
  }

  /** As above; trainHead false keeps the head at its random start (only the method learns; not with head or full). */
  EncoderClassifier(SequenceEncoder body, List<String> labels, Pool pool, Method method, boolean trainHead, long seed) {
    if (!trainHead && (method.name().equals("head") || method.name().equals("full"))) {
      throw new IllegalArgumentException("train_head false leaves nothing of method " + method.name() + " to train but the body");
    }
    this.method = method;
    this.trainHead = trainHead;
    SequenceEncoder encoder = body;
    Module extra = null;
    if (method.name().equals("prompt")) {
      if (body instanceof Gpt g) {
        extra = SoftPrompt.attach(g, method.virtualTokens(), seed);
      } else if (body instanceof Bert b) {
        SoftPrompt p = new SoftPrompt(b.wordEmbeddings(), b.vocabSize(), method.virtualTokens(), seed);
        extra = p;
        encoder = new PromptedEncoder(b, p);
      } else {
        throw new IllegalArgumentException("prompt tuning with a head needs a BERT or GPT body, got " + body.modelType());
      }
    } else if (method.name().equals("prefix")) {
      if (body instanceof Gpt g) {
        extra = KeyValuePrefix.attach(g, method.virtualTokens(), seed);
      } else if (body instanceof Bert b) {
        BertPrefix p = new BertPrefix(b, method.virtualTokens(), seed);
        extra = p;
        encoder = new PromptedEncoder(b, p);
      } else {
        throw new IllegalArgumentException("prefix tuning needs a BERT or GPT body, got " + body.modelType());
      }
    }
    this.head = child("head", new SequenceClassifier(encoder, labels, pool, body.classifierDropout(), seed));
    if (extra != null) child(method.name(), extra);
    switch (method.name()) {
      case "full" -> setTrainable(true);
      case "lora" -> attachLora(method.lora(), seed);
      case "adapter" -> child("adapter", OutputAdapters.attach(head, n -> head.inBody(n + ".weight"), method.adapterSize(), seed));
      default -> { }
    }
    if (!method.name().equals("full")) {
      for (Map.Entry<String, Parameter> e : head.namedParameters().entrySet()) {
        e.getValue().setTrainable(trainHead && !head.inBody(e.getKey()));
      }
    }
  }

  SequenceClassifier head() {
    return head;
  }

  Method method() {
    return method;
  }

  boolean trainsHead() {
    return trainHead;
  }

  /** The longest sentence the body takes with this method (the body's length less any virtual tokens). */
  int maxTokens() {
    SequenceEncoder body = head.body();
    return body instanceof PromptedEncoder ? body.maxLength() : body.maxLength() - method.shift();
  }

  /** Puts a LoRA term on each of the body's targeted Linear layers. */
  private void attachLora(LoraConfig config, long seed) {
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
  }

  /** The most likely label index of every row of the batch, without a tape. */
  int[] predict(Batch batch) {
    try (Tape.NoGrad ng = Tape.noGrad(); Scope scope = Scope.open()) {
      var d = head.body().device();
      return head.predict(Tensor.ofInts(batch.inputs(), d, batch.rows(), batch.cols()),
          Tensor.ofInts(batch.keyMask(), d, batch.rows(), batch.cols()));
    }
  }

  /** Everything but the body: the method's tensors and the head's layer, by name (what is saved for methods but full). */
  Map<String, Parameter> ownParameters() {
    Map<String, Parameter> out = new LinkedHashMap<>();
    for (Map.Entry<String, Parameter> e : namedParameters().entrySet()) {
      String name = e.getKey();
      if (!(name.startsWith("head.") && head.inBody(name.substring("head.".length())))) out.put(name, e.getValue());
    }
    return out;
  }

  /** {@link #ownParameters} to a safetensors file, as {@link #loadOwn} reads them. */
  void saveOwn(Path file) throws IOException {
    Safetensors.Writer w = new Safetensors.Writer().metadata("format", "pt");
    for (Map.Entry<String, Parameter> e : ownParameters().entrySet()) {
      w.add(e.getKey(), e.getValue().value().toFloatArray(), e.getValue().value().dims());
    }
    w.write(file);
  }

  /** Puts tensors saved by {@link #saveOwn} (same method, body and labels) into {@link #ownParameters}; all must be there. */
  void loadOwn(Path file) throws IOException {
    Map<String, Parameter> own = ownParameters();
    try (Safetensors.Reader r = Safetensors.Reader.open(file)) {
      for (Map.Entry<String, Parameter> e : own.entrySet()) {
        Safetensors.Entry entry = r.entries().get(e.getKey());
        Tensor t = e.getValue().value();
        if (entry == null || !Arrays.equals(entry.shape(), t.dims())) {
          throw new IOException(file + ": " + e.getKey() + " missing or not " + t.shape());
        }
      }
      if (own.size() != r.entries().size()) {
        throw new IOException(file + ": " + (r.entries().size() - own.size()) + " tensors that a " + method.name() + " classifier lacks");
      }
      for (Map.Entry<String, Parameter> e : own.entrySet()) e.getValue().value().copyFrom(r.floats(e.getKey()));
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
