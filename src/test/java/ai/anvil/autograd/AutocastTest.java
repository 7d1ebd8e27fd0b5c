package ai.anvil.autograd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.anvil.backend.Backend;
import ai.anvil.tensor.DType;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The parts of the bf16 mixed-precision path that run on the CPU (fp32 only): the cast op's F32 -> F32
 * contract and its refusals, the precision names and device rules, and the Autocast region's bookkeeping.
 * The bf16 numerics are checked on the GPU (backend.cuda.CudaBf16StepTest).
 */
class AutocastTest {
  private static final Device GPU = Device.cuda(0);

  @Test
  void castOnTheCpuCopiesOrAddsFp32AndRefusesBf16() {
    Backend cpu = Backend.of(Device.CPU);
    try (Scope s = Scope.open()) {
      Tensor x = Tensor.of(new float[] {1, -2, 3.5f, 7}, 4);
      Tensor y = Tensor.full(9, DType.F32, Device.CPU, 4);
      cpu.cast(x, y, false);
      assertArrayEquals(new float[] {1, -2, 3.5f, 7}, y.toFloatArray());
      cpu.cast(x, y, true);
      assertArrayEquals(new float[] {2, -4, 7, 14}, y.toFloatArray());
      Tensor low = Tensor.empty(DType.BF16, Device.CPU, 4);
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> cpu.cast(x, low, false));
      assertTrue(e.getMessage().contains("cast") && e.getMessage().contains("BF16") && e.getMessage().contains("cpu"),
          e.getMessage());
      Tensor wrong = Tensor.empty(DType.F32, Device.CPU, 5);
      e = assertThrows(IllegalArgumentException.class, () -> cpu.cast(x, wrong, false));
      assertTrue(e.getMessage().startsWith("cast"), e.getMessage());
      Tensor ids = Tensor.ofInts(new int[] {1, 2, 3, 4}, 4);
      assertThrows(IllegalArgumentException.class, () -> cpu.cast(ids, y, false));
      assertThrows(IllegalArgumentException.class, () -> cpu.cast(x, x, false));
    }
  }

  @Test
  void opsCastToTheSameDtypeIsTheInputAndRecordsNothing() {
    try (Scope s = Scope.open(); Tape tape = Tape.record()) {
      Tensor x = Tensor.of(new float[] {1, 2}, 2).setRequiresGrad(true);
      assertSame(x, Ops.cast(x, DType.F32));
      assertEquals(0, tape.size());
      assertThrows(IllegalArgumentException.class, () -> Ops.cast(x, DType.I32));
      assertThrows(IllegalArgumentException.class, () -> Ops.cast(x, DType.BF16), "no bf16 on the CPU");
      x.close();
    }
  }

  @Test
  void precisionNamesAndDevices() {
    assertEquals(Precision.BF16, Precision.parse("bf16"));
    assertEquals(Precision.BF16, Precision.parse(" BF16 "));
    assertEquals(Precision.FP32, Precision.parse("fp32"));
    assertEquals(Precision.FP32, Precision.parse("float32"));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Precision.parse("fp16"));
    assertTrue(e.getMessage().contains("fp32 or bf16") && e.getMessage().contains("fp16"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> Precision.parse(null));
    assertEquals(Precision.FP32, Precision.defaultFor(Device.CPU));
    assertEquals(Precision.BF16, Precision.defaultFor(GPU));
    assertEquals("bf16", Precision.BF16.label());
    e = assertThrows(IllegalArgumentException.class, () -> Precision.BF16.checkDevice(Device.CPU));
    assertTrue(e.getMessage().contains("CPU backend is fp32 only"), e.getMessage());
    assertSame(Precision.FP32, Precision.FP32.checkDevice(Device.CPU));
  }

  @Test
  void regionsNestCloseInnermostFirstAndRefuseBf16OnTheCpu() {
    assertThrows(IllegalArgumentException.class, () -> Autocast.open(Precision.BF16, Device.CPU));
    assertEquals(Precision.FP32, Autocast.current(GPU));
    // Opening a region touches no device: bookkeeping only, so it runs here without CUDA.
    try (Autocast outer = Autocast.open(Precision.BF16, GPU)) {
      assertEquals(Precision.BF16, Autocast.current(GPU));
      assertEquals(Precision.FP32, Autocast.current(Device.CPU), "a region covers its own device only");
      assertEquals(Precision.FP32, Autocast.current(Device.cuda(1)));
      try (Autocast off = Autocast.open(Precision.FP32, GPU)) {
        assertEquals(Precision.FP32, Autocast.current(GPU), "an fp32 region turns the outer one off");
        IllegalStateException e = assertThrows(IllegalStateException.class, outer::close);
        assertTrue(e.getMessage().contains("innermost first"), e.getMessage());
      }
      assertEquals(Precision.BF16, Autocast.current(GPU));
      assertEquals(0, outer.copiesMade());
    }
    assertEquals(Precision.FP32, Autocast.current(GPU));
  }

  @Test
  void givenWeightCopiesAreValidated() {
    try (Scope s = Scope.open()) {
      Tensor w = Tensor.zeros(DType.F32, Device.CPU, 2, 3);
      Tensor notBf16 = Tensor.zeros(DType.F32, Device.CPU, 2, 3);
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> Autocast.open(Precision.FP32, Device.CPU, Map.of(w, notBf16)));
      assertTrue(e.getMessage().contains("must be BF16"), e.getMessage());
      Tensor shape = Tensor.empty(DType.BF16, Device.CPU, 3, 2);
      assertThrows(IllegalArgumentException.class, () -> Autocast.open(Precision.FP32, Device.CPU, Map.of(w, shape)));
      Tensor fine = Tensor.empty(DType.BF16, Device.CPU, 2, 3);
      try (Autocast ac = Autocast.open(Precision.FP32, Device.CPU, Map.of(w, fine))) {
        assertEquals(Precision.FP32, ac.precision());
      }
      fine.close();
      assertThrows(IllegalStateException.class, () -> Autocast.open(Precision.FP32, Device.CPU, Map.of(w, fine)));
    }
  }
}
