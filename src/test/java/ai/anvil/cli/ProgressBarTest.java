package ai.anvil.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.anvil.train.TrainListener.EvalReport;
import ai.anvil.train.TrainListener.StepReport;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

class ProgressBarTest {
  @Test
  void logModePrintsEveryFivePercentAndEachEvaluation() {
    ByteArrayOutputStream buf = new ByteArrayOutputStream();
    ProgressBar bar = new ProgressBar(new PrintStream(buf, true, StandardCharsets.UTF_8), false);
    bar.onStart(0, 200, 1000, 768);
    for (int s = 1; s <= 200; s++) {
      bar.onStep(new StepReport(s, 200, 2.5, 1e-3, 0.7, 768L * s, s * 0.04, 19200));
      if (s == 100) bar.onEval(new EvalReport(100, 1.91, Math.exp(1.91), 1.91, 0.3));
    }
    List<String> lines = buf.toString(StandardCharsets.UTF_8).lines().toList();
    long steps = lines.stream().filter(l -> l.startsWith("step ") && l.contains("tok/s")).count();
    assertEquals(20, steps, String.join("\n", lines));
    assertTrue(lines.stream().anyMatch(l -> l.equals("step 100: val loss 1.9100 (perplexity 6.75, best 1.9100) in 0.3 s")));
    assertTrue(lines.get(lines.size() - 1).startsWith("step 200/200 [========================] loss 2.5000 lr 1.0e-03 19.2k tok/s"));
    assertTrue(lines.get(lines.size() - 1).endsWith("ETA 0:00"));
  }

  @Test
  void terminalModeRedrawsOneLine() {
    ByteArrayOutputStream buf = new ByteArrayOutputStream();
    ProgressBar bar = new ProgressBar(new PrintStream(buf, true, StandardCharsets.UTF_8), true);
    bar.onStart(0, 3, 1000, 768);
    for (int s = 1; s <= 3; s++) bar.onStep(new StepReport(s, 3, 2.5, 1e-3, 0.7, 768L * s, s * 0.04, 900));
    bar.endLine();
    String out = buf.toString(StandardCharsets.UTF_8);
    assertEquals(3, out.chars().filter(c -> c == '\r').count());
    assertTrue(out.contains("900 tok/s"));
  }

  @Test
  void clockFormats() {
    assertEquals("0:59", ProgressBar.clock(59.4));
    assertEquals("2:05", ProgressBar.clock(125));
    assertEquals("1:00:01", ProgressBar.clock(3601));
  }
}
