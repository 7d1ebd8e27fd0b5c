package ai.anvil.backend;

import ai.anvil.backend.cpu.CpuBackend;
import ai.anvil.tensor.DType;
import ai.anvil.testkit.OneCpuThread;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** The decode ops' host defaults on the CPU backend (AttentionDecodeChecks; the CUDA kernels: CudaAttentionDecodeTest). */
@ExtendWith(OneCpuThread.class)
class AttentionDecodeTest {
  @Test
  void attentionOverDeviceLengthsMatchesTheReferenceAndThePerRowPath() {
    for (int add : new int[] {0, 1}) {
      AttentionDecodeChecks.attentionDecode(CpuBackend.instance(), DType.F32, 2, 16, 7, add);
      AttentionDecodeChecks.attentionDecode(CpuBackend.instance(), DType.F32, 3, 64, 65, add);
    }
  }

  @Test
  void kvAppendWritesEachRowAtItsLength() {
    for (int t : new int[] {1, 2}) AttentionDecodeChecks.kvAppend(CpuBackend.instance(), DType.F32, t, 8);
  }
}
