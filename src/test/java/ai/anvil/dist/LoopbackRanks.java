package ai.anvil.dist;

import java.io.IOException;
import java.net.InetAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/** N ranks as N threads of this JVM, each with its own Gloo group over loopback, meeting at one store. */
final class LoopbackRanks {
  interface RankBody<T> {
    T run(GlooGroup group) throws Exception;
  }

  private LoopbackRanks() {}

  /** Runs body on every rank (joined with the given timeout); returns the results in rank order. */
  static <T> List<T> run(int world, Duration timeout, RankBody<T> body) throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(world);
    try (StoreServer store = new StoreServer(InetAddress.getLoopbackAddress(), 0)) {
      List<Future<T>> futures = new ArrayList<>();
      for (int r = 0; r < world; r++) {
        Rendezvous rv = new Rendezvous(r, world, "127.0.0.1", store.port(), "127.0.0.1", timeout, false);
        futures.add(pool.submit(() -> {
          try (GlooGroup g = GlooGroup.join(rv)) {
            return body.run(g);
          }
        }));
      }
      List<T> out = new ArrayList<>();
      for (Future<T> f : futures) {
        try {
          out.add(f.get(120, TimeUnit.SECONDS));
        } catch (ExecutionException e) {
          if (e.getCause() instanceof Exception x) throw x;
          throw e;
        }
      }
      return out;
    } finally {
      pool.shutdownNow();
    }
  }

  /** Like {@link #run}, but waits for every rank and returns each one's result or the exception it threw. */
  static List<Object> outcomes(int world, Duration timeout, RankBody<?> body) throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(world);
    try (StoreServer store = new StoreServer(InetAddress.getLoopbackAddress(), 0)) {
      List<Future<Object>> futures = new ArrayList<>();
      for (int r = 0; r < world; r++) {
        Rendezvous rv = new Rendezvous(r, world, "127.0.0.1", store.port(), "127.0.0.1", timeout, false);
        futures.add(pool.submit(() -> {
          try (GlooGroup g = GlooGroup.join(rv)) {
            return body.run(g);
          } catch (Exception e) {
            return e;
          }
        }));
      }
      List<Object> out = new ArrayList<>();
      for (Future<Object> f : futures) out.add(f.get(120, TimeUnit.SECONDS));
      return out;
    } finally {
      pool.shutdownNow();
    }
  }

  static StoreServer loopbackStore() throws IOException {
    return new StoreServer(InetAddress.getLoopbackAddress(), 0);
  }
}
