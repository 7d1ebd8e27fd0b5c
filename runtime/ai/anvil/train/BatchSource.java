package ai.anvil.train;

/**
 * An endless, reproducible stream of batches (a seeded sampler over a token split). Its position can be
 * saved and restored, so a resumed run sees exactly the batches the uninterrupted run would have seen.
 */
public interface BatchSource {
  /** The next batch; never ends. */
  Batch next();

  /** The stream's position (seed, draw count, RNG words: whatever restores it exactly). */
  long[] cursor();

  /** Moves the stream to a position that {@link #cursor()} returned. */
  void restore(long[] cursor);
}
