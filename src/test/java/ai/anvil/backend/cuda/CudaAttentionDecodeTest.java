package ai.anvil.backend.cuda;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.anvil.backend.AttentionDecodeChecks;
import ai.anvil.tensor.DType;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The decode kernels that read the cache lengths from device memory (anvil_cuda_attention_decode_fwd,
 * anvil_cuda_kv_append, anvil_cuda_kv_advance) through the same checks as the CPU backend's
 * (AttentionDecodeChecks: an fp64 reference and the old per-row attention path on the same backend):
 * bf16 head dims 64 and 128 take the split-KV flash decode kernels (capacity 300: several splits, rows
 * that end in the first split), head dim 32 and fp32 the SIMT decode kernel.
 */
@Tag("gpu")
class CudaAttentionDecodeTest {
  @BeforeAll
  static void cudaUsable() {
    assumeTrue(CudaRuntime.isUsable(), "CUDA unusable: " + CudaRuntime.reason());
  }

  @Test
  void attentionOverDeviceLengthsMatchesTheReferenceAndThePerRowPath() {
    CudaBackend gpu = CudaBackend.forDevice(0);
    for (DType dtype : new DType[] {DType.BF16, DType.F32}) {
      for (int add : new int[] {0, 1}) {
        for (int d : new int[] {32, 64, 128}) {
          for (int cap : new int[] {1, 65, 300}) AttentionDecodeChecks.attentionDecode(gpu, dtype, 2, d, cap, add);
        }
      }
    }
  }

  @Test
  void kvAppendWritesEachRowAtItsLength() {
    CudaBackend gpu = CudaBackend.forDevice(0);
    for (DType dtype : new DType[] {DType.BF16, DType.F32}) {
      for (int t : new int[] {1, 2}) {
        AttentionDecodeChecks.kvAppend(gpu, dtype, t, 16);  // 16-byte packs
        AttentionDecodeChecks.kvAppend(gpu, dtype, t, 5);   // element by element
      }
    }
  }
}
