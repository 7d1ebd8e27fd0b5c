package ai.anvil.dist;

import ai.anvil.data.BatchSampler;
import ai.anvil.train.BatchSource;
import ai.anvil.train.DataParallelism;
import ai.anvil.train.Trainer;

/**
 * A pre-training run (ai.anvil.train.Pretraining) as one rank of a {@link ProcessGroup}: each rank reads
 * its {@link ShardedSource} rows and its Trainer is tied to the others by {@link DataParallel}.
 */
public final class Distributed implements DataParallelism {
  private final ProcessGroup group;
  private DataParallel attached;

  public Distributed(ProcessGroup group) {
    if (group == null) throw new IllegalArgumentException("Distributed: the process group is null");
    this.group = group;
  }

  @Override
  public int rank() {
    return group.rank();
  }

  @Override
  public int worldSize() {
    return group.worldSize();
  }

  @Override
  public BatchSource shard(BatchSampler global) {
    return new ShardedSource(global, group.rank(), group.worldSize());
  }

  @Override
  public void attach(Trainer trainer) {
    attached = DataParallel.attach(trainer, group);
  }

  /** The attached DataParallel (for its communication time), or null before {@link #attach}. */
  public DataParallel dataParallel() {
    return attached;
  }
}
