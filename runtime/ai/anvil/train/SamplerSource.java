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

  @Override
  public void restore(long[] cursor) {
    if (cursor.length != 2) throw new IllegalArgumentException("a sampler cursor has 2 words, got " + cursor.length);
    sampler.restore(new BatchSampler.State(cursor[0], cursor[1]));
  }
}
