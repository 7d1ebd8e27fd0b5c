package ai.anvil.models.gpt;

import ai.anvil.tensor.Device;
import ai.anvil.tensor.Tensor;

/**
 * The position ids of the training path, (B, T) I32 holding start, start+1, ... in every row, made on the
 * device once per (B, T, start) and handed out as views. Training repeats one shape, so after the first
 * step no host-to-device copy happens inside a step, which is what lets a step be captured in a CUDA graph
 * (a copy from the host synchronizes). Thread-safe: the current ids sit in one immutable holder; a view
 * keeps the storage alive after the holder is replaced.
 */
final class PositionIds implements AutoCloseable {
  private record Held(long b, long t, int start, Tensor ids) {}

  private final Device device;
  private Held held;
  private boolean closed;

  PositionIds(Device device) {
    this.device = device;
  }

  /** A view (owned by the caller's scope) of the ids for (b, t, start). */
  synchronized Tensor get(long b, long t, int start) {
    if (closed) throw new IllegalStateException("PositionIds: closed with its model");
    Held h = held;
    if (h == null || h.b() != b || h.t() != t || h.start() != start) {
      int[] pos = new int[Math.toIntExact(b * t)];
      for (int i = 0; i < pos.length; i++) pos[i] = start + (int) (i % t);
      Tensor ids = Tensor.ofInts(pos, device, b, t).detachFromScope();
      if (h != null) h.ids().close();
      held = h = new Held(b, t, start, ids);
    }
    return h.ids().reshape(b, t);
  }

  @Override
  public synchronized void close() {
    if (closed) return;
    closed = true;
    if (held != null) held.ids().close();
    held = null;
  }
}
