package ai.anvil.cli;

import ai.anvil.train.TrainListener;
import java.io.PrintStream;
import java.nio.file.Path;

/**
 * Renders training progress on stderr: on a terminal, one line redrawn in place
 * ({@code step 812/2000 [=======>      ] loss 1.9321 lr 8.4e-04 21.3k tok/s ETA 0:57}); otherwise (a log
 * file, a pipe) the same line every 5% of the run. Evaluations, skips and checkpoints get lines of their own.
 */
final class ProgressBar implements TrainListener {
  private static final int WIDTH = 24;

  private final PrintStream err;
  private final boolean terminal;
  private long startStep, maxSteps, lastPrinted = -1;
  private long startNanos;
  private boolean lineOpen;

  ProgressBar(PrintStream err, boolean terminal) {
    this.err = err;
    this.terminal = terminal;
  }

  @Override
  public void onStart(long startStep, long maxSteps, long parameters, long tokensPerStep) {
    this.startStep = startStep;
    this.maxSteps = maxSteps;
    this.startNanos = System.nanoTime();
    err.printf("training %,d parameters, %,d tokens per step, steps %d..%d%n", parameters, tokensPerStep, startStep + 1,
        maxSteps);
  }

  @Override
  public void onStep(StepReport r) {
    boolean due = terminal || r.step() == maxSteps || r.step() * 20 / maxSteps != lastPrinted * 20 / Math.max(1, maxSteps);
    if (!due) return;
    double elapsed = (System.nanoTime() - startNanos) / 1e9;
    long done = r.step() - startStep;
    double eta = done > 0 ? elapsed / done * (maxSteps - r.step()) : 0;
    int filled = (int) (WIDTH * r.step() / Math.max(1, maxSteps));
    StringBuilder bar = new StringBuilder("[");
    for (int i = 0; i < WIDTH; i++) bar.append(i < filled ? '=' : i == filled ? '>' : ' ');
    bar.append(']');
    String line = String.format("step %d/%d %s loss %.4f lr %.1e %s tok/s ETA %s", r.step(), maxSteps, bar, r.loss(), r.lr(),
        kilo(r.tokensPerSecond()), clock(eta));
    if (terminal) {
      err.print("\r" + line + "\u001b[K");
      lineOpen = true;
    } else {
      err.println(line);
    }
    err.flush();
    lastPrinted = r.step();
  }

  @Override
  public void onEval(EvalReport r) {
    endLine();
    err.printf("step %d: val loss %.4f (perplexity %.2f, best %.4f) in %.1f s%n", r.step(), r.valLoss(), r.perplexity(),
        r.bestValLoss(), r.seconds());
  }

  @Override
  public void onSkip(long step, String reason) {
    endLine();
    err.printf("step %d skipped: %s%n", step, reason);
  }

  @Override
  public void onCheckpoint(long step, Path dir) {
    endLine();
    err.printf("step %d: checkpoint %s%n", step, dir);
  }

  @Override
  public void onEarlyStop(long step, double bestValLoss) {
    endLine();
    err.printf("step %d: early stop, val loss has not improved on %.4f%n", step, bestValLoss);
  }

  void endLine() {
    if (lineOpen) err.println();
    lineOpen = false;
  }

  static String kilo(double v) {
    return v >= 1e4 ? String.format("%.1fk", v / 1e3) : String.format("%.0f", v);
  }

  static String clock(double seconds) {
    long s = Math.round(seconds);
    return s >= 3600 ? String.format("%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String.format("%d:%02d", s / 60, s % 60);
  }
}
