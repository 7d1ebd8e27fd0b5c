package ai.anvil.train;

import java.nio.file.Path;

/**
 * Progress of a {@link Trainer}, for a progress bar, a metrics file or a service's monitoring. Every
 * method is called on the training thread and has an empty default.
 */
public interface TrainListener {
  /** Before the first step: where it starts (non-zero after a resume) and how far it goes. */
  default void onStart(long startStep, long maxSteps, long parameters, long tokensPerStep) {}

  /** After each optimizer step (skipped steps come through {@link #onSkip}). */
  default void onStep(StepReport report) {}

  /** A step whose loss or gradient norm was not finite: no update was made. */
  default void onSkip(long step, String reason) {}

  /** After each evaluation. */
  default void onEval(EvalReport report) {}

  /** After a checkpoint was written. */
  default void onCheckpoint(long step, Path dir) {}

  /** Training stopped before max steps because val loss stopped improving. */
  default void onEarlyStop(long step, double bestValLoss) {}

  /**
   * One optimizer step.
   *
   * @param step 1-based count of steps done, this one included
   * @param loss mean training loss over the step's whole accumulation window
   * @param trainSeconds training time so far, evaluation and checkpoints left out
   * @param tokensPerSecond tokens trained / trainSeconds, over this session (a resume starts afresh)
   */
  record StepReport(long step, long maxSteps, double loss, double lr, double gradNorm, long tokens,
                    double trainSeconds, double tokensPerSecond) {}

  /** One evaluation: mean val loss over the fixed val batches, its perplexity, and the best so far. */
  record EvalReport(long step, double valLoss, double perplexity, double bestValLoss, double seconds) {}

  /** Calls every listener in order. */
  static TrainListener all(TrainListener... listeners) {
    return new TrainListener() {
      @Override
      public void onStart(long startStep, long maxSteps, long parameters, long tokensPerStep) {
        for (TrainListener l : listeners) l.onStart(startStep, maxSteps, parameters, tokensPerStep);
      }

      @Override
      public void onStep(StepReport report) {
        for (TrainListener l : listeners) l.onStep(report);
      }

      @Override
      public void onSkip(long step, String reason) {
        for (TrainListener l : listeners) l.onSkip(step, reason);
      }

      @Override
      public void onEval(EvalReport report) {
        for (TrainListener l : listeners) l.onEval(report);
      }

      @Override
      public void onCheckpoint(long step, Path dir) {
        for (TrainListener l : listeners) l.onCheckpoint(step, dir);
      }

      @Override
      public void onEarlyStop(long step, double bestValLoss) {
        for (TrainListener l : listeners) l.onEarlyStop(step, bestValLoss);
      }
    };
  }
}
