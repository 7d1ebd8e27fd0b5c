package ai.anvil.train;

import ai.anvil.data.BatchSampler;

/**
 * What a pre-training run needs to know when it is one rank of a data-parallel job (implemented by
 * ai.anvil.dist.Distributed over a process group): which rank it is, how to take its share of each global
 * batch, and how to tie its {@link Trainer} to the other ranks. Rank 0 alone writes the run folder.
 */
public interface DataParallelism {
  int rank();

  int worldSize();

  /** This rank's rows of each batch of global (whose batch is worldSize x the per-rank batch). */
  BatchSource shard(BatchSampler global);

  /** Makes trainer reduce across the ranks, starting from rank 0's state; called after any resume. */
  void attach(Trainer trainer);
}
