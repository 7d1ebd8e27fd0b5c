package ai.anvil.backend.cuda;

import ai.anvil.bind.AnvilCuda;
import ai.anvil.bind.Params;
import ai.anvil.tensor.DType;
import ai.anvil.tensor.Tensor;

/**
 * The next token of each row chosen on the GPU (kernels/sample.cu), so that decoding copies B int32 ids to
 * the host instead of B x vocab logits: argmax (topK 1 or temperature 0), top-k (topK up to 256) or the
 * whole vocabulary (topK 0), with uniforms from a counter-based hash of (seed, offset + row), so a decode
 * loop passes offset = step * rows and replays exactly.
 */
public final class DeviceSampler {
  /** The most top-k the kernel takes (ANVIL_SAMPLE_MAX_TOP_K). */
  public static final int MAX_TOP_K = 256;

  private DeviceSampler() {}

  /**
   * logits (rows, ld) F32 or BF16 on the backend's device, the first vocab columns scored -> out (rows)
   * I32 on the same device (written, asynchronously).
   */
  public static void sample(CudaBackend backend, Tensor logits, int vocab, int topK, double temperature, long seed,
                            long offset, Tensor out) {
    String op = "DeviceSampler.sample";
    for (Tensor t : new Tensor[] {logits, out}) {
      if (t == null) throw new IllegalArgumentException(op + ": logits and out are required");
      if (t.isClosed()) throw new IllegalStateException(op + ": " + t + " is closed");
      if (!t.device().equals(backend.device())) {
        throw new IllegalArgumentException(op + ": " + t + " is on " + t.device() + ", not " + backend.device());
      }
    }
    if (logits.rank() != 2 || (logits.dtype() != DType.F32 && logits.dtype() != DType.BF16)) {
      throw new IllegalArgumentException(op + ": logits must be F32 or BF16 (rows, ld), got " + logits.shape() + " "
          + logits.dtype());
    }
    long rows = logits.dim(0), ld = logits.dim(1);
    if (out.dtype() != DType.I32 || out.numel() != rows) {
      throw new IllegalArgumentException(op + ": out must be I32 with " + rows + " elements, got " + out.shape() + " "
          + out.dtype());
    }
    if (vocab < 1 || vocab > ld) throw new IllegalArgumentException(op + ": vocab " + vocab + " outside [1, " + ld + "]");
    if (topK < 0 || topK > MAX_TOP_K) throw new IllegalArgumentException(op + ": topK " + topK + " outside [0, " + MAX_TOP_K + "]");
    if (!(temperature >= 0) || !Double.isFinite(temperature)) {
      throw new IllegalArgumentException(op + ": temperature must be finite and >= 0, got " + temperature);
    }
    long p = Params.begin().put(logits.address()).put(out.address()).put(rows).put(vocab).put(ld).put(topK)
        .putDouble(temperature).put(seed).put(offset).address(Params.SAMPLE);
    backend.bind();
    CudaBackend.check(op, AnvilCuda.anvil_cuda_sample_fwd(p, logits.dtype().code(), backend.stream()));
  }
}
