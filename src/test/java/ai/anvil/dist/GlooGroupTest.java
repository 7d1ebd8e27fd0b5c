package ai.anvil.dist;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import ai.anvil.testkit.Random;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Gloo collectives over loopback (ranks as threads) against a plain-Java sum; failures of dead ranks. */
class GlooGroupTest {
  private static final Duration TIMEOUT = Duration.ofSeconds(20);
  private static final int[] SIZES = {1, 7, 63, 65, 127, 1000, 3};

  @BeforeAll
  static void needGloo() {
    Assumptions.assumeTrue(GlooGroup.unavailableReason() == null, GlooGroup.unavailableReason());
  }

  /** Rank r's buffer i: a seeded random vector of SIZES[i] elements. */
  private static float[] data(int rank, int i) {
    return Random.toFloats(new Random(1000L * rank + i).uniform(SIZES[i], 1.0));
  }

  @Test
  void allReduceSumsEveryBufferAcrossThreeRanksInBuckets() throws Exception {
    int world = 3;
    // Buckets of 100 elements: small buffers are packed together, 127 and 1000 go alone.
    List<List<float[]>> results = LoopbackRanks.run(world, TIMEOUT, g -> {
      g.bucketElements(100);
      try (Scope ignored = Scope.open()) {
        List<Tensor> ts = new ArrayList<>();
        for (int i = 0; i < SIZES.length; i++) ts.add(Tensor.of(data(g.rank(), i), SIZES[i]));
        g.allReduceSum(ts);
        List<float[]> out = new ArrayList<>();
        for (Tensor t : ts) out.add(t.toFloatArray());
        return out;
      }
    });
    for (int i = 0; i < SIZES.length; i++) {
      float[] expected = new float[SIZES[i]];
      for (int j = 0; j < SIZES[i]; j++) {
        double s = 0;
        for (int r = 0; r < world; r++) s += data(r, i)[j];
        expected[j] = (float) s;
      }
      for (int r = 0; r < world; r++) {
        float[] got = results.get(r).get(i);
        for (int j = 0; j < got.length; j++) {
          assertEquals(expected[j], got[j], 1e-6f * (1 + Math.abs(expected[j])), "rank " + r + " buffer " + i + " [" + j + "]");
        }
      }
      // Every rank holds the same bits: they all take the same update.
      for (int r = 1; r < world; r++) assertArrayEquals(results.get(0).get(i), results.get(r).get(i));
    }
  }

  @Test
  void broadcastCopiesRootAndDoublesSumExactly() throws Exception {
    List<Object[]> results = LoopbackRanks.run(2, TIMEOUT, g -> {
      try (Scope ignored = Scope.open()) {
        Tensor t = Tensor.of(data(g.rank(), 5), SIZES[5]);
        g.broadcast(List.of(t), 1);
        double[] sums = g.allReduceSum(new double[] {g.rank() + 1, 1e15 + g.rank()});
        g.barrier();
        return new Object[] {t.toFloatArray(), sums};
      }
    });
    for (Object[] r : results) {
      assertArrayEquals(data(1, 5), (float[]) r[0]);
      assertArrayEquals(new double[] {3, 2e15 + 1}, (double[]) r[1]);
    }
  }

  @Test
  void aRankThatDiesFailsThePeersCollective() throws Exception {
    try (StoreServer store = LoopbackRanks.loopbackStore()) {
      CompletableFuture<GlooGroup> other = CompletableFuture.supplyAsync(() -> GlooGroup.join(
          new Rendezvous(1, 2, "127.0.0.1", store.port(), "127.0.0.1", TIMEOUT, false)));
      try (GlooGroup g = GlooGroup.join(new Rendezvous(0, 2, "127.0.0.1", store.port(), "127.0.0.1", TIMEOUT, false));
           Scope ignored = Scope.open()) {
        other.get(30, TimeUnit.SECONDS).close(); // rank 1 leaves: its sockets close
        long start = System.nanoTime();
        CollectiveException e = assertThrows(CollectiveException.class, () -> g.allReduceSum(List.of(Tensor.of(new float[] {1f}, 1))));
        assertTrue(e.getMessage().contains("rank 0 of 2"), e.getMessage());
        assertTrue((System.nanoTime() - start) / 1e9 < TIMEOUT.getSeconds(), "failed by the closed connection, not the timeout");
      }
    }
  }

  @Test
  void aRankThatStopsAnsweringTimesOut() throws Exception {
    try (StoreServer store = LoopbackRanks.loopbackStore()) {
      CompletableFuture<GlooGroup> other = CompletableFuture.supplyAsync(() -> GlooGroup.join(
          new Rendezvous(1, 2, "127.0.0.1", store.port(), "127.0.0.1", TIMEOUT, false)));
      try (GlooGroup g = GlooGroup.join(new Rendezvous(0, 2, "127.0.0.1", store.port(), "127.0.0.1", TIMEOUT, false));
           GlooGroup silent = other.get(30, TimeUnit.SECONDS)) {
        g.timeout(Duration.ofMillis(1500));
        long start = System.nanoTime();
        CollectiveException e = assertThrows(CollectiveException.class, g::barrier);
        assertTrue(e.getMessage().contains("1500 ms"), e.getMessage());
        assertTrue((System.nanoTime() - start) / 1e9 >= 1.4, "waited for the timeout");
        assertEquals(1, silent.rank());
      }
    }
  }

  @Test
  void aRankThatNeverJoinsFailsTheRendezvous() throws Exception {
    try (StoreServer store = LoopbackRanks.loopbackStore()) {
      CollectiveException e = assertThrows(CollectiveException.class, () -> GlooGroup.join(
          new Rendezvous(0, 2, "127.0.0.1", store.port(), "127.0.0.1", Duration.ofMillis(800), false)));
      assertTrue(e.getMessage().contains("could not join"), e.getMessage());
    }
  }

  @Test
  void badInputIsRefusedWithItsName() throws Exception {
    IllegalArgumentException env = assertThrows(IllegalArgumentException.class,
        () -> Rendezvous.fromEnv(Map.of("WORLD_SIZE", "2", "RANK", "2", "MASTER_ADDR", "localhost", "MASTER_PORT", "29500"), TIMEOUT));
    assertTrue(env.getMessage().contains("RANK"), env.getMessage());
    IllegalArgumentException port = assertThrows(IllegalArgumentException.class,
        () -> Rendezvous.fromEnv(Map.of("WORLD_SIZE", "2", "RANK", "0", "MASTER_ADDR", "localhost", "MASTER_PORT", "x"), TIMEOUT));
    assertTrue(port.getMessage().contains("MASTER_PORT"), port.getMessage());
    Rendezvous ok = Rendezvous.fromEnv(Map.of("WORLD_SIZE", "2", "RANK", "1", "MASTER_ADDR", "127.0.0.1", "MASTER_PORT", "29500"), TIMEOUT);
    assertEquals("127.0.0.1", ok.localHost());
    List<Object> r = LoopbackRanks.run(1, TIMEOUT, g -> {
      IllegalArgumentException root = assertThrows(IllegalArgumentException.class, () -> g.broadcast(List.of(), 1));
      assertTrue(root.getMessage().contains("root 1"), root.getMessage());
      return null;
    });
    assertEquals(1, r.size());
  }
}
