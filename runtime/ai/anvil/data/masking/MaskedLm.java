package ai.anvil.data.masking;

import java.util.SplittableRandom;

/**
 * BERT's masking (Devlin et al. 2019; HF {@code DataCollatorForLanguageModeling}): each real, non-special
 * token is chosen for prediction with probability p (15%); a chosen token becomes [MASK] with
 * probability 0.8, a random ordinary token with 0.1, and stays itself with 0.1. Its target is its original
 * id; every other position (unchosen, special, padding) gets {@link #IGNORE_INDEX}, so the loss counts
 * the chosen tokens alone.
 *
 * <pre>
 *   ids      [CLS] t h e   w o r d [SEP] [PAD]
 *   chosen          x       x
 *   inputs   [CLS] t [MASK] e   w q r d [SEP] [PAD]    (h masked, o replaced by a random token)
 *   targets  -100 -100 h -100 -100 o -100 ...
 * </pre>
 *
 * Random choices come from a SplittableRandom seeded per batch (seed, batch index), so a resumed run
 * masks exactly as an uninterrupted one and the same batch always gets the same masks.
 */
public final class MaskedLm {
  /** Targets of positions that are not scored (HF's -100). */
  public static final int IGNORE_INDEX = -100;

  /** One masked batch: what the model reads and what it must predict, both (rows, cols) row-major. */
  public record Masked(int[] inputs, int[] targets) {}

  private final MlmVocabulary vocab;
  private final double probability;
  private final int[] ordinary;

  public MaskedLm(MlmVocabulary vocab, double probability) {
    if (!(probability > 0 && probability < 1)) {
      throw new IllegalArgumentException("mask probability must be in (0, 1), got " + probability);
    }
    this.vocab = vocab;
    this.probability = probability;
    this.ordinary = vocab.ordinaryIds();
  }

  public MlmVocabulary vocabulary() {
    return vocab;
  }

  /**
   * Masks ids (row-major, any shape) whose keyMask is nonzero (null: all real). The ids stay untouched;
   * ids outside the vocabulary are an error.
   */
  public Masked mask(int[] ids, int[] keyMask, SplittableRandom random) {
    if (keyMask != null && keyMask.length != ids.length) {
      throw new IllegalArgumentException("mask: key mask has " + keyMask.length + " entries for " + ids.length + " ids");
    }
    int[] inputs = ids.clone();
    int[] targets = new int[ids.length];
    for (int i = 0; i < ids.length; i++) {
      int id = ids[i];
      if (id < 0 || id >= vocab.vocabSize()) {
        throw new IllegalArgumentException("mask: id " + id + " at " + i + " outside the vocabulary [0, " + vocab.vocabSize() + ")");
      }
      targets[i] = IGNORE_INDEX;
      if ((keyMask != null && keyMask[i] == 0) || vocab.isSpecial(id)) continue;
      if (random.nextDouble() >= probability) continue;
      targets[i] = id;
      double u = random.nextDouble();
      if (u < 0.8) inputs[i] = vocab.maskId();
      else if (u < 0.9) inputs[i] = ordinary[random.nextInt(ordinary.length)];
      // else: unchanged, but still predicted
    }
    return new Masked(inputs, targets);
  }

  /** The generator of batch number index of a run seeded with seed (SplitMix64 of the pair). */
  public static SplittableRandom randomFor(long seed, long index) {
    long z = seed + (index + 1) * 0x9E3779B97F4A7C15L;
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return new SplittableRandom(z ^ (z >>> 31));
  }
}
