package ai.anvil.backend;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.anvil.tensor.DType;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import ai.anvil.testkit.Random;
import org.junit.jupiter.api.Test;

/**
 * layerNormBackward's flags on the CPU, bit for bit against the composition they replace: accumulateDx
 * (dx += in the kernel) against the written dx added by axpy into the old values, overwriteParams (dweight,
 * dbias =) against zero-filled buffers accumulated into; and the bf16 output mode refused on the fp32-only
 * CPU backend.
 */
class LayerNormFlagsTest {
  private final Backend cpu = Backend.of(Device.CPU);

  @Test
  void flagsEqualTheCompositionsTheyReplace() {
    for (int rows : new int[] {1, 7, 65, 300}) {
      for (int cols : new int[] {1, 7, 63, 768}) {
        check(rows, cols);
      }
    }
  }

  private void check(int rows, int cols) {
    String what = "layerNormBackward " + rows + "x" + cols;
    Random rnd = new Random(31L * rows + cols);
    try (Scope s = Scope.open()) {
      Tensor x = Random.tensor(rnd.normal(rows * cols, 2), rows, cols);
      Tensor w = Random.tensor(rnd.normal(cols, 1), cols), b = Random.tensor(rnd.normal(cols, 1), cols);
      Tensor y = Tensor.empty(DType.F32, Device.CPU, rows, cols);
      Tensor mean = Tensor.empty(DType.F32, Device.CPU, rows), rstd = Tensor.empty(DType.F32, Device.CPU, rows);
      cpu.layerNorm(x, w, b, y, mean, rstd, 1e-5);
      Tensor dy = Random.tensor(rnd.normal(rows * cols, 1), rows, cols);
      double[] old = rnd.normal(rows * cols, 3), dw0 = rnd.normal(cols, 1), db0 = rnd.normal(cols, 1);

      // The composition: dx into a temporary, then old + temporary; dweight, dbias from zero.
      Tensor tmp = Tensor.empty(DType.F32, Device.CPU, rows, cols), dxRef = Random.tensor(old, rows, cols);
      Tensor dwRef = Tensor.zeros(DType.F32, Device.CPU, cols), dbRef = Tensor.zeros(DType.F32, Device.CPU, cols);
      cpu.layerNormBackward(x, w, mean, rstd, dy, tmp, dwRef, dbRef);
      cpu.axpy(1.0, tmp, dxRef);

      Tensor dx = Random.tensor(old, rows, cols), dw = Random.tensor(dw0, cols), db = Random.tensor(db0, cols);
      cpu.layerNormBackward(x, w, mean, rstd, dy, dx, dw, db, true, true);
      assertArrayEquals(dxRef.toFloatArray(), dx.toFloatArray(), what + ": dx +=");
      assertArrayEquals(dwRef.toFloatArray(), dw.toFloatArray(), what + ": dweight =");
      assertArrayEquals(dbRef.toFloatArray(), db.toFloatArray(), what + ": dbias =");

      // The plain call is unchanged: dx written, dweight and dbias added to.
      Tensor dx2 = Tensor.full(Double.NaN, DType.F32, Device.CPU, rows, cols);
      Tensor dw2 = Random.tensor(dw0, cols), db2 = Random.tensor(db0, cols);
      cpu.layerNormBackward(x, w, mean, rstd, dy, dx2, dw2, db2, false, false);
      assertArrayEquals(tmp.toFloatArray(), dx2.toFloatArray(), what + ": dx =");
      Tensor dw3 = Random.tensor(dw0, cols), db3 = Random.tensor(db0, cols);
      cpu.axpy(1.0, dwRef, dw3);
      cpu.axpy(1.0, dbRef, db3);
      float[] got = dw2.toFloatArray(), want = dw3.toFloatArray();
      // dweight += sum: the kernel adds its fp64 column sum rounded once, axpy the rounded sum: equal.
      assertArrayEquals(want, got, what + ": dweight +=");
      assertArrayEquals(db3.toFloatArray(), db2.toFloatArray(), what + ": dbias +=");
    }
  }

  @Test
  void bf16OutputIsRefusedOnTheCpu() {
    try (Scope s = Scope.open()) {
      Tensor x = Tensor.zeros(DType.F32, Device.CPU, 2, 4), w = Tensor.zeros(DType.F32, Device.CPU, 4);
      assertThrows(IllegalArgumentException.class,
          () -> cpu.layerNorm(x, w, null, Tensor.zeros(DType.BF16, Device.CPU, 2, 4), null, null, 1e-5));
    }
  }
}
