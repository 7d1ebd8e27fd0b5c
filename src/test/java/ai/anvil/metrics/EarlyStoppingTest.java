package ai.anvil.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class EarlyStoppingTest {
  @Test
  void stopsAfterPatienceEvaluationsWithoutImprovement() {
    EarlyStopping es = EarlyStopping.onLoss(2, 0.0);
    assertTrue(es.update(100, 3.0));
    assertTrue(es.update(200, 2.5));
    assertFalse(es.update(300, 2.6));
    assertFalse(es.shouldStop());
    assertFalse(es.update(400, 2.5)); // equal is not better
    assertTrue(es.shouldStop());
    assertEquals(2.5, es.bestValue());
    assertEquals(200, es.bestStep());
    assertEquals(2, es.evaluationsSinceBest());
  }

  @Test
  void improvementResetsTheCount() {
    EarlyStopping es = EarlyStopping.onLoss(2, 0.0);
    es.update(1, 1.0);
    es.update(2, 1.1);
    assertTrue(es.update(3, 0.9));
    assertEquals(0, es.evaluationsSinceBest());
    es.update(4, 1.0);
    assertFalse(es.shouldStop());
  }

  @Test
  void minDeltaIsTheMarginToBeat() {
    EarlyStopping es = EarlyStopping.onLoss(1, 0.1);
    es.update(1, 2.0);
    assertFalse(es.update(2, 1.95)); // better, but not by more than 0.1
    assertTrue(es.shouldStop());
    assertEquals(2.0, es.bestValue());
    EarlyStopping again = EarlyStopping.onLoss(1, 0.1);
    again.update(1, 2.0);
    assertTrue(again.update(2, 1.85));
  }

  @Test
  void maxModeForAccuracyLikeFigures() {
    EarlyStopping es = new EarlyStopping(1, 0.0, EarlyStopping.Mode.MAX);
    assertTrue(es.update(1, 0.5));
    assertTrue(es.update(2, 0.7));
    assertFalse(es.update(3, 0.6));
    assertTrue(es.shouldStop());
    assertEquals(0.7, es.bestValue());
    assertEquals(2, es.bestStep());
  }

  @Test
  void nanNeverBecomesTheBest() {
    EarlyStopping es = EarlyStopping.onLoss(2, 0.0);
    assertFalse(es.update(1, Double.NaN));
    assertTrue(Double.isNaN(es.bestValue()));
    assertEquals(-1, es.bestStep());
    assertTrue(es.update(2, 5.0));
    assertFalse(es.update(3, Double.NaN));
    assertEquals(5.0, es.bestValue());
  }

  @Test
  void refusesBadSettings() {
    assertThrows(IllegalArgumentException.class, () -> EarlyStopping.onLoss(0, 0.0));
    assertThrows(IllegalArgumentException.class, () -> EarlyStopping.onLoss(1, -0.1));
    assertThrows(IllegalArgumentException.class, () -> EarlyStopping.onLoss(1, Double.NaN));
  }
}
