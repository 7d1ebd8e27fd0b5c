package ai.anvil.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

class LrScheduleTest {
  private final LrSchedule s = new LrSchedule(1e-3, 1e-4, 100, 2000);

  @Test
  void warmsUpLinearly() {
    assertEquals(1e-5, s.at(0), 1e-18);
    assertEquals(5e-4, s.at(49), 1e-18);
    assertEquals(1e-3, s.at(99), 1e-18);
  }

  @Test
  void decaysByCosineToTheFloor() {
    assertEquals(1e-3, s.at(100), 1e-18);
    assertEquals(1e-4 + 0.9e-3 * 0.5, s.at(1050), 1e-15, "half way down the cosine");
    assertEquals(1e-4, s.at(2000), 1e-18);
    assertEquals(1e-4, s.at(5000), 1e-18);
    for (long i = 100; i < 2000; i++) assertEquals(true, s.at(i + 1) <= s.at(i), "monotone after warmup at " + i);
  }

  @Test
  void noWarmupStartsAtPeak() {
    assertEquals(2.0, new LrSchedule(2.0, 0.0, 0, 10).at(0), 0.0);
  }

  @Test
  void rejectsNonsense() {
    assertThrows(IllegalArgumentException.class, () -> new LrSchedule(1e-3, 2e-3, 0, 10));
    assertThrows(IllegalArgumentException.class, () -> new LrSchedule(1e-3, 0, -1, 10));
    assertThrows(IllegalArgumentException.class, () -> new LrSchedule(Double.NaN, 0, 0, 10));
    assertThrows(IllegalArgumentException.class, () -> s.at(-1));
  }
}
