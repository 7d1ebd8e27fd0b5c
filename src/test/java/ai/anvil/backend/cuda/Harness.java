package ai.anvil.backend.cuda;

import ai.anvil.backend.Backend;
import ai.anvil.tensor.BFloat16;
import ai.anvil.tensor.DType;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Tensor;
import ai.anvil.testkit.Assertions;
import ai.anvil.testkit.Random;
import ai.anvil.testkit.Tolerance;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.opentest4j.AssertionFailedError;

/**
 * The cross-backend op harness (STYLE.md, after ggml's test-backend-ops): every tensor of an op exists
 * twice, fp32 on the CPU (the reference backend) and at the tested dtype on CUDA, holding the same
 * values (inputs are rounded to the tested dtype first, so both backends see exactly the same numbers).
 * Outputs start as NaN on both sides, so an element a kernel forgets shows up.
 *
 * <p>Judging (DESIGN.md "Tests"): in fp32 mode the CUDA result must be within a typed fp32 tolerance of
 * the CPU result; in bf16 mode its max error against the CPU result (fp32 math, far more precise than
 * bf16) must be at most twice that of the naive bf16 computation, which by default is the reference
 * rounded to bf16 (what an fp32-internal op with a bf16 output does, as PyTorch's bf16 kernels do);
 * ops whose naive bf16 form rounds intermediates (attention) pass their own naive result.
 *
 * <p>Tensors are made in the caller's open Scope.
 */
final class Harness {
  static final Device GPU = Device.cuda(0);

  final DType dtype;
  final Random rnd;
  final Backend cpu = Backend.of(Device.CPU);
  final Backend gpu = Backend.of(GPU);

  /** One tensor on both devices. */
  record Pair(Tensor cpu, Tensor gpu) {
    long numel() {
      return cpu.numel();
    }
  }

  Harness(DType dtype, long seed) {
    this.dtype = dtype;
    this.rnd = new Random(seed);
  }

  boolean bf16() {
    return dtype == DType.BF16;
  }

  /** Values as a tensor of type t holds them. */
  static double[] round(double[] values, DType t) {
    double[] out = new double[values.length];
    for (int i = 0; i < values.length; i++) {
      out[i] = t == DType.BF16 ? BFloat16.round((float) values[i]) : (float) values[i];
    }
    return out;
  }

  /** Normal(0, scale) inputs at the tested dtype. */
  Pair input(double scale, long... dims) {
    return of(rnd.normal(Math.toIntExact(count(dims)), scale), dtype, dims);
  }

  /** These values at the tested dtype (rounded) on both sides. */
  Pair input(double[] values, long... dims) {
    return of(values, dtype, dims);
  }

  /** These values as fp32 on both sides (lse, statistics, fp32 gradients that accumulate). */
  Pair f32(double[] values, long... dims) {
    return of(values, DType.F32, dims);
  }

  Pair of(double[] values, DType gpuType, long... dims) {
    double[] r = round(values, gpuType);
    Tensor c = Tensor.of(Random.toFloats(r), Device.CPU, dims);
    Tensor g = Tensor.empty(gpuType, GPU, dims);
    g.copyFrom(Random.toFloats(r));
    return new Pair(c, g);
  }

  Pair ints(int[] values, long... dims) {
    return new Pair(Tensor.ofInts(values, Device.CPU, dims), Tensor.ofInts(values, GPU, dims));
  }

  /** A NaN-poisoned output at the tested dtype. */
  Pair output(long... dims) {
    return poisoned(dtype, dims);
  }

  /** A NaN-poisoned fp32 output (lse, statistics, losses, parameter gradients). */
  Pair outputF32(long... dims) {
    return poisoned(DType.F32, dims);
  }

  private Pair poisoned(DType gpuType, long... dims) {
    Tensor c = Tensor.full(Double.NaN, DType.F32, Device.CPU, dims);
    Tensor g = Tensor.full(Double.NaN, gpuType, GPU, dims);
    return new Pair(c, g);
  }

  /**
   * Sets both sides of p to the CPU's values as the tested dtype holds them. Called before an op adds
   * into an output an earlier op wrote: in bf16 the CUDA side holds rounded values, and the rounding of
   * one op must not count as the error of the next.
   */
  void resync(Pair p) {
    float[] v = Random.toFloats(round(Random.toDoubles(p.cpu.toFloatArray()), p.gpu.dtype()));
    p.cpu.copyFrom(v);
    p.gpu.copyFrom(v);
  }

  /** A view of p shifted by one element (a misaligned pointer: the kernels' scalar paths). */
  static Pair shifted(Pair p) {
    long n = p.numel();
    return new Pair(p.cpu.reshape(n).slice(1, n), p.gpu.reshape(n).slice(1, n));
  }

  /** Compares with the default naive bf16 result (the reference rounded to bf16). */
  void check(String what, Pair p, Tolerance f32) {
    check(what, p, f32, null);
  }

  void check(String what, Pair p, Tolerance f32, double[] naive) {
    String name = what + " [" + dtype + "]";
    double[] ref = Random.toDoubles(p.cpu.toFloatArray());
    float[] got = p.gpu.toFloatArray();
    if (ref.length != got.length) throw new AssertionFailedError(name + ": " + got.length + " values, expected " + ref.length);
    int finite = 0;
    for (int i = 0; i < ref.length; i++) {
      boolean refFinite = Double.isFinite(ref[i]);
      if (Float.isNaN(got[i]) && !Double.isNaN(ref[i])) {
        throw new AssertionFailedError(name + ": element " + i + " is NaN (not written?), expected " + ref[i]);
      }
      if (!refFinite || !Float.isFinite(got[i])) {
        if (Double.compare(ref[i], got[i]) != 0) {
          throw new AssertionFailedError(name + ": element " + i + " is " + got[i] + ", expected " + ref[i]);
        }
      } else {
        finite++;
      }
    }
    if (dtype == DType.F32) {
      Assertions.assertClose(name, ref, got, f32);
      return;
    }
    double[] n = naive != null ? naive : round(ref, DType.BF16);
    double[] r = new double[finite], nv = new double[finite];
    float[] g = new float[finite];
    for (int i = 0, j = 0; i < ref.length; i++) {
      if (!Double.isFinite(ref[i])) continue;
      r[j] = ref[i];
      g[j] = got[i];
      nv[j++] = n[i];
    }
    Assertions.assertWithinNaiveError(name, r, g, Random.toFloats(nv));
  }

  /** The raw bytes of a CUDA tensor (for int32 and exact bf16 checks). */
  static ByteBuffer bytes(Tensor t) {
    ByteBuffer b = ByteBuffer.allocateDirect(Math.toIntExact(t.bytes())).order(ByteOrder.nativeOrder());
    Backend.of(t.device()).copyToHost(t, b);
    return b;
  }

  static long count(long... dims) {
    long n = 1;
    for (long d : dims) n *= d;
    return n;
  }
}
