package ai.anvil.backend.cuda;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.anvil.backend.cuda.Harness.Pair;
import ai.anvil.tensor.DType;
import ai.anvil.tensor.Scope;
import ai.anvil.testkit.Random;
import ai.anvil.testkit.Tolerance;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The Llama ops (rmsNorm, rope, swiglu, repeatKv) on CUDA against the CPU backend, forward and backward,
 * fp32 and bf16, at awkward sizes and with misaligned views: the same harness and rules as
 * {@link CrossBackendOpTest}.
 */
@Tag("gpu")
class LlamaCrossBackendOpTest {
  @BeforeAll
  static void cudaUsable() {
    assumeTrue(CudaRuntime.isUsable(), "CUDA unusable: " + CudaRuntime.reason());
  }

  static Stream<Arguments> rowShapes() {
    Stream.Builder<Arguments> b = Stream.builder();
    int[][] shapes = {{1, 1}, {7, 63}, {65, 127}, {33, 768}, {5, 2053}, {2, 4096}};
    for (DType t : new DType[] {DType.F32, DType.BF16}) for (int[] s : shapes) b.add(Arguments.of(t, s[0], s[1]));
    return b.build();
  }

  @ParameterizedTest
  @MethodSource("rowShapes")
  void rmsNorm(DType dtype, int rows, int cols) {
    Harness h = new Harness(dtype, rows * 1000L + cols);
    String at = " (" + rows + ", " + cols + ")";
    try (Scope s = Scope.open()) {
      Random rnd = h.rnd;
      Pair x = h.input(rnd.normal(rows * cols, 2), rows, cols), w = h.input(rnd.normal(cols, 1), cols);
      Pair y = h.output(rows, cols), rstd = h.outputF32(rows);
      h.cpu.rmsNorm(x.cpu(), w.cpu(), y.cpu(), rstd.cpu(), 1e-6);
      h.gpu.rmsNorm(x.gpu(), w.gpu(), y.gpu(), rstd.gpu(), 1e-6);
      h.check("rmsNorm y" + at, y, Tolerance.F32);
      h.check("rmsNorm rstd" + at, rstd, Tolerance.F32);
      // Backward from the CPU's rstd, so both sides start from the same numbers.
      Pair r = h.f32(Random.toDoubles(rstd.cpu().toFloatArray()), rows);
      Pair dy = h.input(1, rows, cols), dx = h.output(rows, cols), dw = h.f32(rnd.normal(cols, 1), cols);
      h.cpu.rmsNormBackward(x.cpu(), w.cpu(), r.cpu(), dy.cpu(), dx.cpu(), dw.cpu(), 1e-6);
      h.gpu.rmsNormBackward(x.gpu(), w.gpu(), r.gpu(), dy.gpu(), dx.gpu(), dw.gpu(), 1e-6);
      h.check("rmsNormBackward dx" + at, dx, Tolerance.F32_REDUCTION);
      h.check("rmsNormBackward dweight (+=)" + at, dw, Tolerance.F32_REDUCTION);
    }
  }

  static Stream<Arguments> ropeShapes() {
    Stream.Builder<Arguments> b = Stream.builder();
    // batch, seq, heads, headDim, position offset
    int[][] shapes = {{1, 1, 1, 2, 0}, {2, 7, 3, 6, 5}, {1, 65, 4, 64, 0}, {3, 33, 2, 128, 4000}, {2, 1, 32, 128, 2047}};
    for (DType t : new DType[] {DType.F32, DType.BF16}) for (int[] s : shapes) b.add(Arguments.of(t, s));
    return b.build();
  }

  @ParameterizedTest
  @MethodSource("ropeShapes")
  void rope(DType dtype, int[] shape) {
    int batch = shape[0], seq = shape[1], heads = shape[2], headDim = shape[3], offset = shape[4];
    Harness h = new Harness(dtype, batch * 1000L + seq * 10L + headDim);
    String at = " B" + batch + " T" + seq + " H" + heads + " D" + headDim + " @" + offset;
    try (Scope s = Scope.open()) {
      int w = heads * headDim;
      Pair x = h.input(1, batch, seq, w), y = h.output(batch, seq, w);
      h.cpu.rope(x.cpu(), y.cpu(), heads, headDim, offset, 10000);
      h.gpu.rope(x.gpu(), y.gpu(), heads, headDim, offset, 10000);
      h.check("rope" + at, y, Tolerance.F32);
      Pair dx = h.output(batch, seq, w);
      h.cpu.ropeBackward(x.cpu(), dx.cpu(), heads, headDim, offset, 10000);
      h.gpu.ropeBackward(x.gpu(), dx.gpu(), heads, headDim, offset, 10000);
      h.check("ropeBackward" + at, dx, Tolerance.F32);
      h.cpu.rope(x.cpu(), x.cpu(), heads, headDim, offset, 10000);
      h.gpu.rope(x.gpu(), x.gpu(), heads, headDim, offset, 10000);
      h.check("rope in place" + at, x, Tolerance.F32);
    }
  }

  static Stream<Arguments> elementCounts() {
    Stream.Builder<Arguments> b = Stream.builder();
    for (DType t : new DType[] {DType.F32, DType.BF16}) for (int n : new int[] {1, 7, 63, 65, 127, 4099, 100_003}) b.add(Arguments.of(t, n));
    return b.build();
  }

  @ParameterizedTest
  @MethodSource("elementCounts")
  void swiglu(DType dtype, int n) {
    Harness h = new Harness(dtype, 17L * n);
    try (Scope s = Scope.open()) {
      Pair a0 = h.input(4, n + 1), b0 = h.input(1, n + 1), d0 = h.input(1, n + 1);
      for (boolean shift : new boolean[] {false, true}) {
        Pair a = shift ? Harness.shifted(a0) : a0, b = shift ? Harness.shifted(b0) : b0;
        Pair d = shift ? Harness.shifted(d0) : d0;
        long len = a.numel();
        String at = " n=" + len + (shift ? " misaligned" : "");
        Pair out = h.output(len), da = h.output(len), db = h.output(len);
        h.cpu.swiglu(a.cpu(), b.cpu(), out.cpu());
        h.gpu.swiglu(a.gpu(), b.gpu(), out.gpu());
        h.check("swiglu" + at, out, Tolerance.F32);
        h.cpu.swigluBackward(a.cpu(), b.cpu(), d.cpu(), da.cpu(), db.cpu(), false);
        h.gpu.swigluBackward(a.gpu(), b.gpu(), d.gpu(), da.gpu(), db.gpu(), false);
        h.check("swigluBackward da" + at, da, Tolerance.F32);
        h.check("swigluBackward db" + at, db, Tolerance.F32);
        h.resync(da);
        h.cpu.swigluBackward(a.cpu(), b.cpu(), d.cpu(), da.cpu(), null, true);
        h.gpu.swigluBackward(a.gpu(), b.gpu(), d.gpu(), da.gpu(), null, true);
        h.check("swigluBackward da accumulated" + at, da, Tolerance.F32);
      }
    }
  }

  static Stream<Arguments> kvShapes() {
    Stream.Builder<Arguments> b = Stream.builder();
    // rows, kvHeads, groups, headDim
    int[][] shapes = {{1, 1, 2, 1}, {7, 2, 3, 6}, {65, 8, 4, 128}, {127, 1, 8, 64}};
    for (DType t : new DType[] {DType.F32, DType.BF16}) for (int[] s : shapes) b.add(Arguments.of(t, s));
    return b.build();
  }

  @ParameterizedTest
  @MethodSource("kvShapes")
  void repeatKv(DType dtype, int[] shape) {
    int rows = shape[0], kvHeads = shape[1], groups = shape[2], headDim = shape[3];
    Harness h = new Harness(dtype, rows * 100L + groups);
    String at = " rows " + rows + " kv " + kvHeads + " x" + groups + " D" + headDim;
    try (Scope s = Scope.open()) {
      int in = kvHeads * headDim, out = in * groups;
      Pair x = h.input(1, 1, rows, in), y = h.output(1, rows, out);
      h.cpu.repeatKv(x.cpu(), y.cpu(), kvHeads, groups, headDim);
      h.gpu.repeatKv(x.gpu(), y.gpu(), kvHeads, groups, headDim);
      h.check("repeatKv" + at, y, new Tolerance(0, 0));
      Pair dy = h.input(1, 1, rows, out), dx = h.output(1, rows, in);
      h.cpu.repeatKvBackward(dy.cpu(), dx.cpu(), kvHeads, groups, headDim, false);
      h.gpu.repeatKvBackward(dy.gpu(), dx.gpu(), kvHeads, groups, headDim, false);
      h.check("repeatKvBackward" + at, dx, Tolerance.F32);
      h.resync(dx);
      h.cpu.repeatKvBackward(dy.cpu(), dx.cpu(), kvHeads, groups, headDim, true);
      h.gpu.repeatKvBackward(dy.gpu(), dx.gpu(), kvHeads, groups, headDim, true);
      h.check("repeatKvBackward accumulated" + at, dx, Tolerance.F32);
    }
  }
}
