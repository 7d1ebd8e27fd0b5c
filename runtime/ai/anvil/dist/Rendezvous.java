package ai.anvil.dist;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.Map;

/**
 * Where a rank meets the others: its rank and the world size, the rendezvous store's address (served by
 * rank 0), the address the others reach this rank at, and the timeout of the rendezvous and of every
 * collective after it.
 *
 * @param storeHost host of rank 0's {@link StoreServer}
 * @param storePort its port
 * @param localHost the address this rank's Gloo device binds to and advertises
 * @param serveStore true when this process must start the store itself (rank 0 under torchrun's contract);
 *     false when a launcher (Spark) already started it
 */
public record Rendezvous(int rank, int worldSize, String storeHost, int storePort, String localHost, Duration timeout,
                         boolean serveStore) {
  /** The default timeout: long enough for rank 0 to write a checkpoint while the others wait on it. */
  public static final Duration DEFAULT_TIMEOUT = Duration.ofMinutes(5);

  public Rendezvous {
    if (worldSize < 1) throw new IllegalArgumentException("world size must be >= 1, got " + worldSize);
    if (rank < 0 || rank >= worldSize) {
      throw new IllegalArgumentException("rank must be in [0, " + worldSize + "), got " + rank);
    }
    if (storeHost == null || storeHost.isBlank()) throw new IllegalArgumentException("the store host is empty");
    if (storePort < 1 || storePort > 65535) throw new IllegalArgumentException("store port must be in [1, 65535], got " + storePort);
    if (localHost == null || localHost.isBlank()) throw new IllegalArgumentException("the local host is empty");
    if (timeout == null || timeout.isNegative() || timeout.isZero()) {
      throw new IllegalArgumentException("timeout must be positive, got " + timeout);
    }
  }

  /**
   * torchrun's and Kubernetes' contract: RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT (rank 0 serves the
   * store there). The caller passes the environment explicitly (the CLI's {@code --distributed env}); a
   * missing or malformed variable is an error naming it.
   */
  public static Rendezvous fromEnv(Map<String, String> env, Duration timeout) {
    int world = intVar(env, "WORLD_SIZE");
    int rank = intVar(env, "RANK");
    String master = env.get("MASTER_ADDR");
    if (master == null || master.isBlank()) throw new IllegalArgumentException("MASTER_ADDR is not set (rank 0's host)");
    int port = intVar(env, "MASTER_PORT");
    if (world < 1) throw new IllegalArgumentException("WORLD_SIZE must be >= 1, got " + world);
    if (rank < 0 || rank >= world) throw new IllegalArgumentException("RANK must be in [0, WORLD_SIZE=" + world + "), got " + rank);
    return new Rendezvous(rank, world, master, port, routeTo(master, port), timeout, rank == 0);
  }

  private static int intVar(Map<String, String> env, String name) {
    String v = env.get(name);
    if (v == null || v.isBlank()) throw new IllegalArgumentException(name + " is not set (torchrun-style launch needs RANK, "
        + "WORLD_SIZE, MASTER_ADDR, MASTER_PORT)");
    try {
      return Integer.parseInt(v.trim());
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(name + " must be an integer, got '" + v + "'", e);
    }
  }

  /** The local address of the interface that routes to host (no packet is sent: UDP connect only). */
  public static String routeTo(String host, int port) {
    try (DatagramSocket probe = new DatagramSocket()) {
      InetAddress target = InetAddress.getByName(host);
      if (target.isLoopbackAddress()) return target.getHostAddress();
      probe.connect(new InetSocketAddress(target, port));
      InetAddress local = probe.getLocalAddress();
      return local.isAnyLocalAddress() ? InetAddress.getLocalHost().getHostAddress() : local.getHostAddress();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot find a route to the rendezvous host " + host + ":" + port, e);
    }
  }
}
