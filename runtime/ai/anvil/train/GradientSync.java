package ai.anvil.train;

import ai.anvil.autograd.Tape;
import ai.anvil.tensor.Tensor;
import java.util.List;

/**
 * How the {@link Trainer} combines a step with the other ranks of a data-parallel job (ai.anvil.dist):
 * the loss normalizer becomes the token count of every rank's window, the reported loss the sum of every
 * rank's share, and the gradients the sum over ranks, after the backward and before clipping and the
 * update, so every rank clips by the same global norm and takes the same step. {@link #LOCAL} (the
 * default) is a single process.
 */
public interface GradientSync {
  /** Ranks taking part (1 for a single process); tokens per step count them all. */
  int worldSize();

  /** The sum over ranks of each rank's count of non-ignored targets in its window. */
  long globalTargets(long localTargets);

  /** The sum over ranks of each rank's loss share (each already divided by the global count). */
  double globalLoss(double localLoss);

  /**
   * In place: each gradient becomes its sum over ranks (every rank passes the same list, same order).
   * Gradients already reduced through {@link #backwardHook()} are not reduced again.
   */
  void reduceGradients(List<Tensor> gradients);

  /**
   * Told of each parameter whose gradient the last micro-batch's backward has finished, so reduction can
   * overlap the rest of the backward; null (the default) reduces everything in {@link #reduceGradients}.
   * Called once per step, before that backward; {@link #globalLoss} follows it on every rank.
   */
  default Tape.LeafHook backwardHook() {
    return null;
  }

  /** One process: nothing to combine. */
  GradientSync LOCAL = new GradientSync() {
    @Override
    public int worldSize() {
      return 1;
    }

    @Override
    public long globalTargets(long localTargets) {
      return localTargets;
    }

    @Override
    public double globalLoss(double localLoss) {
      return localLoss;
    }

    @Override
    public void reduceGradients(List<Tensor> gradients) {}
  };
}
