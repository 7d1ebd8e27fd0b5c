package ai.anvil.models.gpt;

import ai.anvil.tensor.Tensor;

/**
 * Extension points of a {@link Gpt}'s forward, for parameter-efficient fine-tuning (ai.anvil.peft):
 * what a method adds without changing the model's code or weights. Every default adds nothing. The
 * tensors returned may be trainable parameters: the training path records through them. Both forward
 * paths (training/scoring and cached decoding) honour every point.
 */
public interface GptExtension {
  /**
   * Soft-prompt rows (P, C) put before every sequence's token embeddings, or null. The prompt takes
   * positions [0, P) and the tokens [P, P+T), as PEFT's prompt tuning does with GPT-2; its rows give no
   * logits.
   */
  default Tensor softPrompt() {
    return null;
  }

  /**
   * Keys and values (P, C) each that layer's queries see before the sequence's own, or null. The
   * tokens then take positions [P, P+T), as Hugging Face GPT-2 does with P past keys (PEFT's prefix
   * tuning); every query sees the whole prefix (bottom-right causal alignment).
   */
  default Tensor[] keyValuePrefix(int layer) {
    return null;
  }

  /** The prefix length P of {@link #keyValuePrefix} (0 when there is none). */
  default int prefixLength() {
    return 0;
  }

  /** The attention sublayer's output h (B, T, C), after c_proj and before the residual add. */
  default Tensor afterAttention(int layer, Tensor h) {
    return h;
  }

  /** The MLP sublayer's output h (B, T, C), after c_proj and before the residual add. */
  default Tensor afterMlp(int layer, Tensor h) {
    return h;
  }
}
