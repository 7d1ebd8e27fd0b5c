package ai.anvil.dist;

import ai.anvil.tensor.Tensor;
import java.util.List;

/**
 * The ranks of one data-parallel job and the collectives they call together: {@link GlooGroup} (CPU
 * tensors, TCP) and {@link NcclGroup} (CUDA tensors). Every rank calls the same collectives in the same
 * order with the same shapes; a collective whose peers die or stop answering throws
 * {@link CollectiveException} rather than hanging.
 */
public interface ProcessGroup extends AutoCloseable {
  /** This process's rank, 0 .. worldSize - 1; rank 0 writes checkpoints and logs. */
  int rank();

  int worldSize();

  /**
   * In place: each tensor becomes the element-wise sum of that tensor over the ranks. Tensors are packed
   * into buckets (one collective per bucket), so many small gradients cost few round trips.
   *
   * @param tensors fp32, on this group's device, alive; the same count and shapes on every rank
   */
  void allReduceSum(List<Tensor> tensors);

  /** The element-wise sum over ranks of values (fp64: exact for token counts below 2^53). */
  double[] allReduceSum(double[] values);

  /** In place: every rank's tensors become root's (same count and shapes on every rank). */
  void broadcast(List<Tensor> tensors, int root);

  /** Returns when every rank has called it. */
  void barrier();

  /** Leaves the group; peers still inside a collective with this rank then fail. */
  @Override
  void close();
}
