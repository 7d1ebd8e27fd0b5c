package ai.anvil.train;

/** Random state a model keeps (dropout masks), saved with checkpoints so a resumed run draws the same. */
public interface RandomState {
  long[] randomState();

  void restoreRandomState(long[] state);

  /** For models without randomness. */
  RandomState NONE = new RandomState() {
    @Override
    public long[] randomState() {
      return new long[0];
    }

    @Override
    public void restoreRandomState(long[] state) {
      if (state.length != 0) throw new IllegalArgumentException("this model keeps no random state, got " + state.length + " words");
    }
  };
}
