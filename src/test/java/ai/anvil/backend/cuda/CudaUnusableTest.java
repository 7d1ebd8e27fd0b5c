package ai.anvil.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import ai.anvil.backend.Backend;
import ai.anvil.tensor.Device;
import org.junit.jupiter.api.Test;

/** Where CUDA is unusable (no build, no driver, no device) everything says why and the CPU carries on. */
class CudaUnusableTest {
  @Test
  void unusableCudaFallsBackToTheCpuWithAReason() {
    assumeFalse(CudaRuntime.isUsable(), "CUDA is usable here");
    String reason = CudaRuntime.reason();
    assertFalse(reason.isBlank());
    assertEquals(0, CudaRuntime.deviceCount());
    assertEquals(Device.CPU, Device.auto());
    IllegalStateException e = assertThrows(IllegalStateException.class, () -> Backend.of(Device.cuda(0)));
    assertTrue(e.getMessage().contains(reason), e.getMessage());
  }
}
