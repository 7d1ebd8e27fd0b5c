package ai.anvil.dist;

import ai.anvil.data.BatchSampler;
import ai.anvil.train.Batch;
import ai.anvil.train.BatchSource;

/**
 * One rank's share of a global batch stream: the sampler draws batches of world x B rows (B = rows per
 * rank) and rank r takes rows [r B, (r + 1) B). The ranks' rows are therefore disjoint draws, and their
 * union is exactly the batch a single process with batch world x B would draw from the same seed, which
 * is what makes N ranks equal one process with an N times larger batch.
 *
 * <p>The cursor is (seed, global batches drawn, rows per global batch), so a run can resume with another
 * world size: it continues after the rows already consumed (rounded up to whole new batches). A
 * two-word cursor (seed, position) from a single-process run is read as batches of B rows.
 */
public final class ShardedSource implements BatchSource {
  private final BatchSampler global;
  private final int rank;
  private final int rowsPerRank;

  /**
   * @param global a sampler whose batch is world x rowsPerRank rows, seeded alike on every rank
   */
  public ShardedSource(BatchSampler global, int rank, int world) {
    if (world < 1 || rank < 0 || rank >= world) throw new IllegalArgumentException("rank " + rank + " of world " + world);
    if (global.batch() % world != 0) {
      throw new IllegalArgumentException("a global batch of " + global.batch() + " rows does not split over " + world + " ranks");
    }
    this.global = global;
    this.rank = rank;
    this.rowsPerRank = global.batch() / world;
  }

  @Override
  public Batch next() {
    BatchSampler.Batch b = global.next();
    return new Batch(b.batch(), b.block(), b.x(), b.y()).rows(rank * rowsPerRank, (rank + 1) * rowsPerRank);
  }

  @Override
  public long[] cursor() {
    BatchSampler.State s = global.state();
    return new long[] {s.seed(), s.position(), global.batch()};
  }

  @Override
  public void restore(long[] cursor) {
    if (cursor.length != 2 && cursor.length != 3) {
      throw new IllegalArgumentException("a sharded cursor has 3 words (seed, position, rows per batch), or 2 from a "
          + "single process; got " + cursor.length);
    }
    long savedRows = cursor.length == 3 ? cursor[2] : rowsPerRank;
    if (savedRows < 1) throw new IllegalArgumentException("cursor: rows per batch must be >= 1, got " + savedRows);
    long rowsDone = Math.multiplyExact(cursor[1], savedRows);
    long position = (rowsDone + global.batch() - 1) / global.batch();
    global.restore(new BatchSampler.State(cursor[0], position));
  }
}
