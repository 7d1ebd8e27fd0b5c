package ai.anvil.models;

import ai.anvil.nn.Module;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;

/**
 * A pre-trained body that task heads ({@code models.heads}) sit on: token ids in, one hidden state per
 * token out. Implemented by the BERT encoder, GPT (its final hidden states) and the T5 encoder, so a
 * sequence classifier, token classifier or LM head can be put on any of them.
 *
 * <p>The body keeps its own Hugging Face parameter names; {@link #taskModules()} says under which
 * prefix HF task models hold them ({@code bert.} in BertForSequenceClassification, {@code transformer.}
 * in GPT2ForSequenceClassification), so a head + body saves to a file HF's task classes load.
 */
public interface SequenceEncoder {
  /**
   * The last hidden states: ids I32 (B, T), keyMask I32 (B, T) (nonzero = a real token, 0 = padding) or
   * null (all real) -> (B, T, hiddenSize). Padding keys must not change the states of real tokens.
   * Recorded when a tape is active; dropout applies while the body is training.
   */
  Tensor encode(Tensor ids, Tensor keyMask);

  /** H, the width of each hidden state. */
  int hiddenSize();

  /** Token ids are in [0, vocabSize). */
  int vocabSize();

  /** The longest T encode accepts. */
  int maxLength();

  Device device();

  /**
   * Whether position t sees only positions <= t (a decoder-only body such as GPT). Then the state of the
   * last real token, not the first, summarizes a row, and rows must be right-padded.
   */
  boolean causal();

  /**
   * The token-embedding table (rows >= vocabSize, H), which a tied LM head multiplies by; rows past
   * vocabSize (alignment padding) give logits the loss ignores.
   */
  Tensor tokenEmbeddings();

  /**
   * The modules that hold every parameter of the body, keyed by the name HF task models give them
   * ({@code "bert"} for a BERT encoder, {@code "transformer"} for GPT-2). A head registers each as its
   * child under that name; their dotted parameter names then are HF's.
   */
  Map<String, Module> taskModules();

  /** HF's model_type ({@code bert}, {@code gpt2}, {@code t5}). */
  String modelType();

  /** Dropout probability an HF task head puts before its classifier for this body. */
  double classifierDropout();

  /** Training mode (dropout on) or evaluation mode for the whole body. */
  void train(boolean on);

  /**
   * Writes the body alone as an HF folder (config.json + model.safetensors in its own layout, e.g. GPT-2's
   * transposed Conv1D weights), from which its loader reads it back.
   */
  void save(Path dir) throws IOException;
}
