package ai.anvil.models.gpt;

import ai.anvil.backend.cuda.CudaGraph;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Tensor;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The position ids of the training path, (B, T) I32 holding start, start+1, ... in every row, made on the
 * device once per (B, T, start) and handed out as views. Training repeats one shape, so after the first
 * step no host-to-device copy happens inside a step, which is what lets a step be captured in a CUDA graph
 * (a copy from the host synchronizes). The {@value #KEEP} shapes used last are kept, older ones freed (a
 * view handed out keeps its storage alive); a shape handed out during a graph capture is pinned until the
 * model closes, since the graph reads it by address and replays without asking again. Thread-safe.
 */
final class PositionIds implements AutoCloseable {
  /** Unpinned shapes kept (training and evaluation use one or two; scoring of varied lengths more). */
  static final int KEEP = 16;

  private record Held(long b, long t, int start, Tensor ids) {}

  private final Device device;
  private final LinkedHashMap<List<Long>, Tensor> held = new LinkedHashMap<>(16, 0.75f, true);  // access order
  private final Set<List<Long>> pinned = new HashSet<>();
  private Held grid;  // decoding: (rows, b) holding s in every column of row s
  private boolean closed;

  PositionIds(Device device) {
    this.device = device;
  }

  /** A view (owned by the caller's scope) of the ids for (b, t, start). */
  synchronized Tensor get(long b, long t, int start) {
    if (closed) throw new IllegalStateException("PositionIds: closed with its model");
    List<Long> key = List.of(b, t, (long) start);
    Tensor ids = held.get(key);
    if (ids == null) {
      int[] pos = new int[Math.toIntExact(b * t)];
      for (int i = 0; i < pos.length; i++) pos[i] = start + (int) (i % t);
      ids = Tensor.ofInts(pos, device, b, t).detachFromScope();
      held.put(key, ids);
    }
    if (CudaGraph.capturing()) pinned.add(key);
    if (held.size() - pinned.size() > KEEP) {
      for (Iterator<Map.Entry<List<Long>, Tensor>> it = held.entrySet().iterator(); it.hasNext(); ) {
        Map.Entry<List<Long>, Tensor> e = it.next();  // least recently used first
        if (pinned.contains(e.getKey()) || e.getKey().equals(key)) continue;
        e.getValue().close();
        it.remove();
        break;
      }
    }
    return ids.reshape(b, t);
  }

  /**
   * A view (b, 1) holding position in every row, for a decode step of one token per row: cut from a
   * (rows, b) grid made on the device once per b, so decoding copies nothing from the host per token (a
   * pageable host-to-device copy waits for the stream). position must be in [0, rows).
   */
  synchronized Tensor column(long b, int position, int rows) {
    if (closed) throw new IllegalStateException("PositionIds: closed with its model");
    if (position < 0 || position >= rows) throw new IllegalArgumentException("position " + position + " outside [0, " + rows + ")");
    Held g = grid;
    if (g == null || g.b() != b || g.t() != rows) {
      int[] pos = new int[Math.toIntExact(rows * b)];
      for (int i = 0; i < pos.length; i++) pos[i] = (int) (i / b);
      Tensor ids = Tensor.ofInts(pos, device, rows, b).detachFromScope();
      if (g != null) g.ids().close();
      grid = g = new Held(b, rows, 0, ids);
    }
    return g.ids().slice(position, position + 1).reshape(b, 1);
  }

  @Override
  public synchronized void close() {
    if (closed) return;
    closed = true;
    for (Tensor ids : held.values()) ids.close();
    held.clear();
    pinned.clear();
    if (grid != null) grid.ids().close();
    grid = null;
  }
}
