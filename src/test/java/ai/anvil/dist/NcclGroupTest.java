package ai.anvil.dist;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.anvil.backend.cuda.CudaRuntime;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import ai.anvil.testkit.Random;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The NCCL path on one GPU (NCCL refuses two ranks on one device, so a world of 1): libnccl.so.2 loads,
 * a communicator forms from a unique id, all-reduce and broadcast leave the data as it was, and the
 * fp64 sum of a scalar round-trips. Skipped with the reason where CUDA or NCCL is missing.
 */
@Tag("gpu")
class NcclGroupTest {
  @BeforeAll
  static void needCudaAndNccl() {
    Assumptions.assumeTrue(CudaRuntime.isUsable(), "no usable CUDA device: " + CudaRuntime.reason());
    try {
      assertTrue(NcclGroup.version() > 0);
    } catch (CollectiveException | LinkageError e) {
      Assumptions.abort("NCCL not available: " + e.getMessage());
    }
  }

  @Test
  void worldOfOneKeepsTheDataAndSumsScalars() {
    Device gpu = Device.cuda(0);
    float[] data = Random.toFloats(new Random(7).uniform(1000, 1.0));
    try (NcclGroup g = NcclGroup.join(NcclGroup.newUniqueId(), 0, 1, "cuda:0"); Scope ignored = Scope.open()) {
      Tensor t = Tensor.of(data, gpu, 1000);
      g.allReduceSum(List.of(t));
      assertArrayEquals(data, t.toFloatArray());
      g.broadcast(List.of(t), 0);
      assertArrayEquals(data, t.toFloatArray());
      assertArrayEquals(new double[] {3.5, 1e15}, g.allReduceSum(new double[] {3.5, 1e15}));
      g.barrier();
    }
  }
}
