package ai.anvil.train;

import ai.anvil.data.BatchSampler;

/** A {@link BatchSampler} as the trainer's {@link BatchSource}; the cursor is the sampler's (seed, position). */
public final class SamplerSource implements BatchSource {
  private final BatchSampler sampler;

  public SamplerSource(BatchSampler sampler) {
    this.sampler = sampler;
  }

  @Override
  public Batch next() {
    BatchSampler.Batch b = sampler.next();
    return new Batch(b.batch(), b.block(), b.x(), b.y());
  }

  @Override
  public long[] cursor() {
    BatchSampler.State s = sampler.state();
    return new long[] {s.seed(), s.position()};
  }

  /**
   * Also takes the 3-word cursor of a data-parallel run, (seed, global batches, rows per global batch)
   * from ai.anvil.dist.ShardedSource, and continues after the rows it consumed (rounded up to whole
   * batches of this sampler), so a run resumes on one process after training on several.
   */
  @Override
  public void restore(long[] cursor) {
    if (cursor.length == 3 && cursor[2] >= 1) {
      long rows = Math.multiplyExact(cursor[1], cursor[2]);
      sampler.restore(new BatchSampler.State(cursor[0], (rows + sampler.batch() - 1) / sampler.batch()));
      return;
    }
    if (cursor.length != 2) throw new IllegalArgumentException("a sampler cursor has 2 words (3 from a data-parallel run), got " + cursor.length);
    sampler.restore(new BatchSampler.State(cursor[0], cursor[1]));
  }
}
