package ai.anvil.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

class ForgettingReportTest {
  @Test
  void absoluteAndRelativeChange() {
    ForgettingReport r = new ForgettingReport(20.0, 25.0);
    assertEquals(5.0, r.absoluteChange(), 1e-12);
    assertEquals(0.25, r.relativeChange(), 1e-12);
    assertEquals("held-out perplexity 20.000 -> 25.000 (+5.000, +25.0%)", r.toString());
    ForgettingReport better = new ForgettingReport(20.0, 18.0);
    assertEquals(-0.1, better.relativeChange(), 1e-12);
  }

  @Test
  void fromAccumulatedPerplexities() {
    Perplexity before = new Perplexity().add(Math.log(10) * 4, 4);
    Perplexity after = new Perplexity().add(Math.log(10) * 1, 2).add(Math.log(10) * 5, 2); // mean log 10^1.5
    ForgettingReport r = ForgettingReport.of(before, after);
    assertEquals(10.0, r.perplexityBefore(), 1e-9);
    assertEquals(Math.pow(10, 1.5), r.perplexityAfter(), 1e-9);
  }

  @Test
  void refusesValuesThatAreNotPerplexities() {
    assertThrows(IllegalArgumentException.class, () -> new ForgettingReport(0.5, 2));
    assertThrows(IllegalArgumentException.class, () -> new ForgettingReport(2, Double.POSITIVE_INFINITY));
    assertThrows(IllegalArgumentException.class, () -> new ForgettingReport(Double.NaN, 2));
  }
}
