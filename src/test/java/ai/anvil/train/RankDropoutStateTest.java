package ai.anvil.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import ai.anvil.models.gpt.Gpt;
import ai.anvil.models.gpt.GptConfig;
import ai.anvil.tensor.Device;
import org.junit.jupiter.api.Test;

/**
 * Data-parallel ranks draw independent dropout masks (each rank's model holds the shared seed salted by
 * its rank), while the random state a checkpoint saves and restores is the shared one on every rank.
 */
class RankDropoutStateTest {
  private static Gpt model() {
    return new Gpt(GptConfig.of(1, 1, 8, 4, 11).withDropout(0.1), 42, Device.CPU);
  }

  @Test
  void ranksDrawFromDifferentSeedsButSaveTheSharedState() {
    try (Gpt rank0 = model(); Gpt rank1 = model(); Gpt rank2 = model()) {
      long shared = rank0.randomState()[0];
      RandomState r0 = Pretraining.randomState(rank0, 0), r1 = Pretraining.randomState(rank1, 1),
          r2 = Pretraining.randomState(rank2, 2);
      r0.restoreRandomState(rank0.randomState());
      r1.restoreRandomState(rank1.randomState());
      r2.restoreRandomState(rank2.randomState());
      // rank 0 keeps the shared seed; the others draw from seeds of their own
      assertArrayEquals(new long[] {shared, 0}, rank0.randomState());
      assertNotEquals(shared, rank1.randomState()[0]);
      assertNotEquals(rank1.randomState()[0], rank2.randomState()[0]);
      // what a checkpoint saves is the same on every rank
      assertArrayEquals(r0.randomState(), r1.randomState());
      assertArrayEquals(r0.randomState(), r2.randomState());
      // a resume (any world size) restores the shared state, salted again per rank
      r1.restoreRandomState(new long[] {shared, 17});
      assertArrayEquals(new long[] {shared, 17}, r1.randomState());
      assertArrayEquals(rank1.randomState(), new long[] {rank1.randomState()[0], 17});
      assertNotEquals(shared, rank1.randomState()[0]);
    }
  }
}
