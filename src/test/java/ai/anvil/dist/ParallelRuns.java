package ai.anvil.dist;

import ai.anvil.data.BatchSampler;
import ai.anvil.data.TokenDataset;
import ai.anvil.models.gpt.Gpt;
import ai.anvil.models.gpt.GptConfig;
import ai.anvil.nn.Parameter;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Tensor;
import ai.anvil.train.GradientSync;
import ai.anvil.train.Pretraining;
import ai.anvil.train.SamplerSource;
import ai.anvil.train.TrainConfig;
import ai.anvil.train.Trainer;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** One rank's short training run of a tiny GPT, for the data-parallel tests on the CPU (Gloo) and GPU (NCCL). */
final class ParallelRuns {
  private ParallelRuns() {}

  /** What a run leaves: the per-step losses, then every weight by name. */
  record Run(List<Double> losses, Map<String, float[]> weights) {}

  /**
   * steps steps of config c on device: this rank's rows of world x batch_size per step (the sampler of the
   * single process, sharded), the model seeded with seed + rank (rank 0's weights must reach the others by
   * the broadcast), and group's data parallelism attached when group is not null. Without a group on CUDA the
   * Trainer would take its one-process device step (train.CudaTrainStep: fused AdamW, another optimizer
   * kernel than the data-parallel step's); an identity sync keeps such a run on the step a data-parallel run
   * takes, so a world of 1 can be compared with it bit for bit.
   */
  static Run train(TrainConfig c, TokenDataset data, int vocab, Device device, int steps, int rank, int world,
                   ProcessGroup group, long bucketElements) {
    GptConfig g = GptConfig.of(c.nLayer(), c.nHead(), c.nEmbd(), c.blockSize(), vocab);
    try (Gpt gpt = new Gpt(g, c.seed() + rank, device);
         Trainer t = new Trainer(gpt, gpt::loss, c,
             new ShardedSource(new BatchSampler(data.train(), c.batchSize() * world, c.blockSize(), c.seed()), rank, world),
             new SamplerSource(new BatchSampler(data.val(), c.batchSize(), c.blockSize(), c.seed() + 1)),
             Pretraining.randomState(gpt))) {
      if (group != null) DataParallel.attach(t, group, bucketElements);
      else t.gradientSync(new OneProcess());
      List<Double> losses = new ArrayList<>();
      for (int s = 0; s < steps; s++) losses.add(t.step());
      Map<String, float[]> w = new LinkedHashMap<>();
      for (Map.Entry<String, Parameter> e : gpt.namedParameters().entrySet()) w.put(e.getKey(), e.getValue().value().toFloatArray());
      return new Run(losses, w);
    }
  }

  /** GradientSync.LOCAL's arithmetic as a sync of its own: the Trainer then runs the data-parallel step's path. */
  private static final class OneProcess implements GradientSync {
    @Override
    public int worldSize() {
      return 1;
    }

    @Override
    public long globalTargets(long localTargets) {
      return localTargets;
    }

    @Override
    public double globalLoss(double localLoss) {
      return localLoss;
    }

    @Override
    public void reduceGradients(List<Tensor> gradients) {}
  }
}
