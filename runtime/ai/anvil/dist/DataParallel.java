package ai.anvil.dist;

import ai.anvil.autograd.Tape;
import ai.anvil.nn.Parameter;
import ai.anvil.tensor.Tensor;
import ai.anvil.train.AdamW;
import ai.anvil.train.GradientSync;
import ai.anvil.train.Trainer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Data-parallel training with the ordinary {@link Trainer}: every rank holds the whole model and reads
 * its own rows of each global batch ({@link ShardedSource}); the gradients are summed over the ranks in
 * buckets, started during the last micro-batch's backward as each fills ({@link BucketReducer}) and
 * finished after it, the loss normalizer being the token count of all ranks' windows, so each
 * rank then clips by the same global norm and takes the same AdamW step. World size N with per-rank batch
 * B makes the updates of one process with batch N x B, up to the order of the fp32 sums.
 *
 * <p>Rank 0 alone should write checkpoints, metrics and logs (the launcher sets the Trainer's checkpointer
 * and listener on rank 0 only). Evaluation runs on every rank over the same val batches (Pretraining draws them
 * world x B rows wide, the single process's val set), so every rank
 * takes the same early-stopping decision without a collective.
 */
public final class DataParallel implements GradientSync, AutoCloseable {
  /** Gradient elements per bucket reduced during the backward: 25 MB of fp32, as PyTorch DDP. */
  public static final long DEFAULT_BUCKET_ELEMENTS = GlooGroup.DEFAULT_BUCKET_ELEMENTS;

  private final ProcessGroup group;
  private final int trainable;
  private final BucketReducer overlap; // null: every gradient is reduced after the backward
  private double commSeconds;
  private Set<Tensor> reducedDuringBackward = Set.of();

  private DataParallel(ProcessGroup group, int trainable, BucketReducer overlap) {
    this.group = group;
    this.trainable = trainable;
    this.overlap = overlap;
  }

  /**
   * Makes trainer data-parallel over group: copies rank 0's weights, AdamW moments and step count to every
   * rank (so a resume read on rank 0 or a seed that differs cannot split the replicas), then reduces each
   * step across the ranks. Call after any checkpoint restore and before {@link Trainer#fit()}.
   */
  public static DataParallel attach(Trainer trainer, ProcessGroup group) {
    return attach(trainer, group, DEFAULT_BUCKET_ELEMENTS);
  }

  /**
   * As {@link #attach(Trainer, ProcessGroup)}, with buckets of bucketElements gradient elements reduced
   * during the backward (0: no overlap; every gradient is reduced after the backward).
   */
  public static DataParallel attach(Trainer trainer, ProcessGroup group, long bucketElements) {
    if (bucketElements < 0) throw new IllegalArgumentException("bucketElements must be >= 0, got " + bucketElements);
    AdamW opt = trainer.optimizer();
    broadcastState(opt, group);
    DataParallel dp = new DataParallel(group, opt.parameters().size(),
        bucketElements == 0 ? null : new BucketReducer(group, bucketElements));
    trainer.gradientSync(dp);
    return dp;
  }

  /** Rank 0's trainable parameters, their AdamW moments and the step count, to every rank. */
  static void broadcastState(AdamW opt, ProcessGroup group) {
    List<Tensor> tensors = new ArrayList<>();
    long elements = 0;
    for (Map.Entry<String, Parameter> e : opt.parameters().entrySet()) {
      tensors.add(e.getValue().value());
      tensors.add(opt.firstMoment(e.getKey()));
      tensors.add(opt.secondMoment(e.getKey()));
      elements += e.getValue().value().numel();
    }
    checkSameModel(group, opt.parameters().size(), elements, String.join(",", opt.parameters().keySet()).hashCode());
    group.broadcast(tensors, 0);
    double[] steps = new double[] {group.rank() == 0 ? opt.steps() : 0};
    opt.setSteps((long) group.allReduceSum(steps)[0]);
  }

  /**
   * Every rank must train the same parameters: a mismatch would send collectives of different sizes,
   * which Gloo cannot recover from. Rank 0's description reaches every rank in one small all-reduce.
   */
  private static void checkSameModel(ProcessGroup group, int count, long elements, int namesHash) {
    double[] mine = {count, elements, namesHash};
    double[] root = group.allReduceSum(group.rank() == 0 ? mine : new double[mine.length]);
    if (!java.util.Arrays.equals(root, mine)) {
      throw new IllegalStateException(String.format("data-parallel: rank %d trains %d parameter tensors of %d elements "
          + "(names hash %d) but rank 0 trains %d of %d (names hash %d): every rank must build the same model",
          group.rank(), count, elements, namesHash, (long) root[0], (long) root[1], (long) root[2]));
    }
  }

  public ProcessGroup group() {
    return group;
  }

  /** Seconds spent in collectives so far (gradients, counts and losses). */
  public double communicationSeconds() {
    return commSeconds;
  }

  @Override
  public int worldSize() {
    return group.worldSize();
  }

  @Override
  public long globalTargets(long localTargets) {
    return Math.round(sum(localTargets));
  }

  @Override
  public Tape.LeafHook backwardHook() {
    return overlap;
  }

  @Override
  public double globalLoss(double localLoss) {
    // The buckets started during the backward finish first: the group serves one collective at a time.
    if (overlap != null) {
      long start = System.nanoTime();
      reducedDuringBackward = overlap.finish();
      commSeconds += (System.nanoTime() - start) / 1e9;
    }
    return sum(localLoss);
  }

  @Override
  public void reduceGradients(List<Tensor> gradients) {
    if (gradients.size() != trainable) {
      throw new IllegalStateException("data-parallel: " + gradients.size() + " of " + trainable + " trainable parameters have "
          + "a gradient this step; every rank must reduce the same set, so every trainable parameter must take part in "
          + "the loss (freeze the others)");
    }
    List<Tensor> rest = new ArrayList<>();
    for (Tensor g : gradients) if (!reducedDuringBackward.contains(g)) rest.add(g);
    reducedDuringBackward = Set.of();
    long start = System.nanoTime();
    if (!rest.isEmpty()) group.allReduceSum(rest);
    commSeconds += (System.nanoTime() - start) / 1e9;
  }

  /** Stops the bucket worker thread (the group belongs to the caller). */
  @Override
  public void close() {
    if (overlap != null) overlap.close();
  }

  private double sum(double value) {
    long start = System.nanoTime();
    double out = group.allReduceSum(new double[] {value})[0];
    commSeconds += (System.nanoTime() - start) / 1e9;
    return out;
  }
}
