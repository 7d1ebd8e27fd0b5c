package ai.anvil.dist;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The rendezvous key-value store rank 0 serves while the ranks connect (the role of torchrun's TCPStore):
 * each rank sets its Gloo pair addresses under its key and waits for the others'. It carries only the
 * rendezvous; no gradient passes through it. The client is native/dist/store.cpp, whose header comment
 * holds the protocol (big-endian; SET, GET and WAIT, the last two blocking until the keys exist or their
 * timeout passes).
 */
public final class StoreServer implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(StoreServer.class);
  private static final int SET = 1, GET = 2, WAIT = 3;
  private static final int MAX_BYTES = 1 << 24;

  private final ServerSocket server;
  private final Map<String, byte[]> values = new HashMap<>();
  private final List<Socket> clients = new ArrayList<>();
  private final Thread acceptor;
  private volatile boolean closed;

  /** Serves on bindAddress:port (port 0: an ephemeral one, see {@link #port()}); null binds every interface. */
  public StoreServer(InetAddress bindAddress, int port) throws IOException {
    if (port < 0 || port > 65535) throw new IllegalArgumentException("store port must be in [0, 65535], got " + port);
    server = new ServerSocket();
    server.setReuseAddress(true);
    try {
      server.bind(new InetSocketAddress(bindAddress, port), 64);
    } catch (IOException e) {
      server.close();
      throw new IOException("rendezvous store cannot listen on " + (bindAddress == null ? "*" : bindAddress) + ":" + port
          + " (is MASTER_PORT free?): " + e.getMessage(), e);
    }
    acceptor = new Thread(this::acceptLoop, "anvil-store-accept");
    acceptor.setDaemon(true);
    acceptor.start();
  }

  public int port() {
    return server.getLocalPort();
  }

  private void acceptLoop() {
    while (!closed) {
      try {
        Socket s = server.accept();
        s.setTcpNoDelay(true);
        synchronized (clients) {
          clients.add(s);
        }
        Thread t = new Thread(() -> serve(s), "anvil-store-client");
        t.setDaemon(true);
        t.start();
      } catch (IOException e) {
        if (!closed) log.warn("rendezvous store: accept failed: {}", e.toString());
      }
    }
  }

  private void serve(Socket socket) {
    try (socket;
         DataInputStream in = new DataInputStream(new BufferedInputStream(socket.getInputStream()));
         DataOutputStream out = new DataOutputStream(new BufferedOutputStream(socket.getOutputStream()))) {
      while (true) {
        int op = in.read();
        if (op < 0) return;
        switch (op) {
          case SET -> {
            String key = new String(bytes(in), java.nio.charset.StandardCharsets.UTF_8);
            byte[] value = bytes(in);
            synchronized (values) {
              values.put(key, value);
              values.notifyAll();
            }
            out.writeByte(0);
          }
          case GET -> {
            String key = new String(bytes(in), java.nio.charset.StandardCharsets.UTF_8);
            long timeout = Integer.toUnsignedLong(in.readInt());
            byte[] value = awaitAll(List.of(key), timeout) ? get(key) : null;
            if (value == null) {
              out.writeByte(1);
            } else {
              out.writeByte(0);
              out.writeInt(value.length);
              out.write(value);
            }
          }
          case WAIT -> {
            int n = in.readInt();
            if (n < 0 || n > 1 << 16) throw new IOException("bad key count " + n);
            List<String> keys = new ArrayList<>();
            for (int i = 0; i < n; i++) keys.add(new String(bytes(in), java.nio.charset.StandardCharsets.UTF_8));
            long timeout = Integer.toUnsignedLong(in.readInt());
            out.writeByte(awaitAll(keys, timeout) ? 0 : 1);
          }
          default -> throw new IOException("unknown request " + op);
        }
        out.flush();
      }
    } catch (IOException e) {
      if (!closed) log.debug("rendezvous store: client {} gone: {}", socket.getRemoteSocketAddress(), e.toString());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private static byte[] bytes(DataInputStream in) throws IOException {
    int n = in.readInt();
    if (n < 0 || n > MAX_BYTES) throw new IOException("bad length " + n);
    byte[] b = new byte[n];
    in.readFully(b);
    return b;
  }

  private byte[] get(String key) {
    synchronized (values) {
      return values.get(key);
    }
  }

  /** Waits until every key is set or timeoutMs passes; true when all are set. */
  private boolean awaitAll(List<String> keys, long timeoutMs) throws InterruptedException {
    long deadline = System.nanoTime() + timeoutMs * 1_000_000L;
    synchronized (values) {
      while (!values.keySet().containsAll(keys)) {
        long left = (deadline - System.nanoTime()) / 1_000_000L;
        if (left <= 0 || closed) return false;
        values.wait(left);
      }
      return true;
    }
  }

  /** Stops serving and drops every client connection. */
  @Override
  public void close() {
    closed = true;
    try {
      server.close();
    } catch (IOException e) {
      log.debug("closing the rendezvous store: {}", e.toString());
    }
    synchronized (clients) {
      for (Socket s : clients) {
        try {
          s.close();
        } catch (IOException ignored) {
          // already gone
        }
      }
    }
    synchronized (values) {
      values.notifyAll();
    }
  }
}
