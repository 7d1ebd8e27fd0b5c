package ai.anvil.models;

import ai.anvil.nn.Parameter;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;

/**
 * What generation, scoring and training need from a decoder-only language model, whatever its
 * architecture (GPT-2, Llama): logits and loss of a batch, the final hidden states and the head
 * weight (for scoring in bounded chunks), and cached decoding. {@link AutoModel} loads one from a
 * Hugging Face model folder.
 *
 * <p>Token tables are padded inside to {@link #paddedVocab()} rows; logits have that many columns and
 * the ones past {@link #vocabSize()} are padding, never sampled or scored.
 */
public interface CausalLm extends AutoCloseable {
  /** Targets with this value are not scored by {@link #loss}. */
  int IGNORE_INDEX = -1;

  /** Hugging Face's model_type: "gpt2", "llama". */
  String modelType();

  Device device();

  /** The real vocabulary size (what files store and the loss and sampling see). */
  int vocabSize();

  /** Columns of the logits: vocabSize rounded up for aligned kernels. */
  int paddedVocab();

  /** The longest context the model takes (positions 0 .. contextLength - 1). */
  int contextLength();

  /** ids I32 (B, T) -> logits (B, T, paddedVocab). Recorded when a tape is active. */
  Tensor logits(Tensor ids);

  /** ids (B, T) -> final hidden states (B, T, C), after the last norm. */
  Tensor hidden(Tensor ids);

  /** The head weight (paddedVocab, C): logits = hidden @ lmHeadWeight^T. */
  Tensor lmHeadWeight();

  /**
   * Summed next-token cross-entropy of targets I32 (B, T) divided by normalizer; targets equal to
   * {@link #IGNORE_INDEX} count for nothing. A one-element tensor.
   */
  Tensor loss(Tensor ids, Tensor targets, double normalizer);

  /** A cache for batch rows of up to capacity positions (capacity <= contextLength); the caller closes it. */
  DecodeCache newCache(int batch, int capacity);

  /**
   * Runs ids (B, T) at positions [cache.length(), cache.length() + T), appends to the cache and returns
   * logits (B, T, paddedVocab). Inference only.
   */
  Tensor forward(Tensor ids, DecodeCache cache);

  /** Like {@link #forward(Tensor, DecodeCache)} but returns only the last position's logits (B, paddedVocab). */
  Tensor forwardLast(Tensor ids, DecodeCache cache);

  /** Every parameter by its Hugging Face name. */
  Map<String, Parameter> namedParameters();

  /** Training mode (dropout where the model has it) or evaluation mode. */
  void train(boolean on);

  /** Writes config.json and model.safetensors in Hugging Face layout into dir. */
  void save(Path dir) throws IOException;

  @Override
  void close();
}
