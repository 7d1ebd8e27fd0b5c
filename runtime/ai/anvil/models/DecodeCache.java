package ai.anvil.models;

/**
 * The per-sequence state of cached decoding (past keys and values of every layer), as a
 * {@link CausalLm} makes it with {@link CausalLm#newCache}. All batch rows advance together. Owned by
 * its caller, which closes it; one sequence (one thread) at a time.
 */
public interface DecodeCache extends AutoCloseable {
  int batch();

  /** The most positions it holds. */
  int capacity();

  /** Positions filled so far: the next token goes to position length(). */
  int length();

  /** Positions still free. */
  default int remaining() {
    return capacity() - length();
  }

  /** Forgets every position (the memory is kept for the next sequence). */
  void reset();

  /** Keeps the first n positions and forgets the rest. */
  void truncate(int n);

  /** Native bytes held. */
  long bytes();

  boolean isClosed();

  @Override
  void close();
}
