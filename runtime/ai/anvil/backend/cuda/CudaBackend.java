package ai.anvil.backend.cuda;

import ai.anvil.backend.AdamWStep;
import ai.anvil.backend.AnvilException;
import ai.anvil.backend.AttentionShape;
import ai.anvil.backend.Backend;
import ai.anvil.backend.MatmulShape;
import ai.anvil.backend.cpu.CpuBackend;
import ai.anvil.bind.AnvilCpu;
import ai.anvil.bind.AnvilCuda;
import ai.anvil.bind.Params;
import ai.anvil.tensor.DType;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Tensor;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.Pointer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The CUDA backend of one device: the kernels of libanvil_cuda (kernels/*.cu), all queued on one stream
 * per device, memory from the device's stream-ordered pool (cudaMallocAsync; freed blocks are kept and
 * reused). Arguments arrive validated by {@link Backend}; this class lays out the params structs of
 * anvil.h exactly as {@link CpuBackend} does and adds the dtype of the activations (F32 or BF16; what
 * stays fp32 is listed in anvil.h).
 *
 * <p>Work is asynchronous: a call returns once its kernels are queued. Java reads device memory only
 * through {@link #copyToHost}, {@link #gradNorm} and {@link #synchronize}, which wait. A kernel that
 * refuses an input it cannot check cheaply from Java (an embedding id or a cross-entropy target out of
 * range) skips it, and the next of those waiting calls throws an {@link AnvilException} naming it.
 *
 * <p>One instance per device, made on first use and kept for the life of the process.
 */
public final class CudaBackend extends Backend {
  private static final Logger LOG = LoggerFactory.getLogger(CudaBackend.class);
  private static final ConcurrentHashMap<Integer, CudaBackend> INSTANCES = new ConcurrentHashMap<>();
  /** The device each thread's CUDA calls currently go to, as far as this class set it (-1: unknown). */
  private static final ThreadLocal<int[]> BOUND = ThreadLocal.withInitial(() -> new int[] {-1});

  private final int index;
  private final long stream;
  private final boolean multiDevice;

  private CudaBackend(int index) {
    super(Device.cuda(index));
    this.index = index;
    this.multiDevice = CudaRuntime.deviceCount() > 1;
    check("setDevice", AnvilCuda.anvil_cuda_set_device(index));
    BOUND.get()[0] = index;
    long[] s = new long[1];
    check("streamCreate", AnvilCuda.anvil_cuda_stream_create(s));
    this.stream = s[0];
    LOG.info("CUDA backend on cuda:{}: {}", index, CudaRuntime.describe(index));
  }

  /** The backend of CUDA device index; throws IllegalStateException when CUDA or that device is unusable. */
  public static CudaBackend forDevice(int index) {
    CudaBackend backend = INSTANCES.get(index);
    if (backend != null) return backend;
    if (!CudaRuntime.isUsable()) {
      throw new IllegalStateException("CUDA device " + index + " requested but CUDA is unusable: "
          + CudaRuntime.reason());
    }
    if (index < 0 || index >= CudaRuntime.deviceCount()) {
      throw new IllegalStateException("no CUDA device " + index + " (" + CudaRuntime.deviceCount() + " usable)");
    }
    return INSTANCES.computeIfAbsent(index, CudaBackend::new);
  }

  /** The memory pool of this device: bytes the pool holds from the driver, and bytes handed out now. */
  public record PoolStats(long reservedBytes, long usedBytes) {}

  public PoolStats poolStats() {
    bind();
    long[] reserved = new long[1];
    long[] used = new long[1];
    check("poolStats", AnvilCuda.anvil_cuda_memory(reserved, used));
    return new PoolStats(reserved[0], used[0]);
  }

  /** The stream every op of this device is queued on (for timing with {@link CudaTimer}). */
  long stream() {
    return stream;
  }

  /** Makes this thread's CUDA calls go to this device; only needed when there are several devices. */
  void bind() {
    if (!multiDevice) return;
    int[] bound = BOUND.get();
    if (bound[0] != index) {
      check("useDevice", AnvilCuda.anvil_cuda_use_device(index));
      bound[0] = index;
    }
  }

  static void check(String op, int rc) {
    if (rc != 0) throw new AnvilException(op, rc, AnvilCpu.anvil_last_error().getString());
  }

  private static long addr(Tensor t) {
    return t == null ? 0L : t.address();
  }

  /** A view of a direct buffer from its element 0, whatever the buffer's position (as CpuBackend copies). */
  private static Pointer host(ByteBuffer buffer) {
    return new Pointer(buffer.duplicate().clear());
  }

  @Override
  public boolean supports(DType dtype) {
    return dtype == DType.F32 || dtype == DType.BF16;
  }

  // ---- memory -----------------------------------------------------------------------------------

  @Override
  public long allocate(long bytes) {
    bind();
    long[] address = new long[1];
    check("allocate", AnvilCuda.anvil_cuda_malloc(bytes, stream, address));
    return address[0];
  }

  @Override
  public void free(long address) {
    bind();
    check("free", AnvilCuda.anvil_cuda_free(address, stream));
  }

  @Override
  protected void doCopyFromHost(Tensor dst, ByteBuffer src) {
    bind();
    try (Pointer host = host(src)) {
      check("copyFromHost", AnvilCuda.anvil_cuda_memcpy(dst.address(), host.address(), dst.bytes(), 0, stream));
    }
  }

  @Override
  protected void doCopyToHost(Tensor src, ByteBuffer dst) {
    bind();
    try (Pointer host = host(dst)) {
      check("copyToHost", AnvilCuda.anvil_cuda_memcpy(host.address(), src.address(), src.bytes(), 1, stream));
    }
  }

  @Override
  protected void doCopy(Tensor src, Tensor dst) {
    bind();
    check("copy", AnvilCuda.anvil_cuda_memcpy(dst.address(), src.address(), src.bytes(), 2, stream));
  }

  @Override
  protected void doFill(Tensor t, double value) {
    bind();
    check("fill", AnvilCuda.anvil_cuda_fill(t.address(), t.numel(), t.dtype().code(), value, stream));
  }

  @Override
  protected void doCast(Tensor src, Tensor dst, boolean accumulate) {
    long p = Params.begin().put(addr(src)).put(addr(dst)).put(0L).put(0L).put(src.numel())
        .put(src.dtype().code()).put(dst.dtype().code()).put(accumulate).address(Params.CAST);
    bind();
    check("cast", AnvilCuda.anvil_cuda_cast_fwd(p, stream));
  }

  @Override
  public void synchronize() {
    bind();
    check("synchronize", AnvilCuda.anvil_cuda_stream_synchronize(stream));
  }

  // ---- matmul -----------------------------------------------------------------------------------

  @Override
  protected void doMatmul(MatmulShape s, Tensor a, Tensor b, Tensor bias, Tensor c, Tensor pre, boolean gelu,
                          double alpha, boolean accumulate) {
    long p = matmulParams(s, a, b, c, bias, null, null, null, null, alpha, accumulate, false, false, gelu,
        pre);
    bind();
    check(gelu ? "matmulGelu" : "matmul", AnvilCuda.anvil_cuda_matmul_fwd(p, a.dtype().code(), stream));
  }

  @Override
  protected void doMatmulBackward(MatmulShape s, Tensor a, Tensor b, Tensor dc, Tensor da, Tensor db,
                                  Tensor dbias, Tensor pre, boolean gelu, double alpha, boolean accumulateDa,
                                  boolean accumulateDb) {
    long p = matmulParams(s, a, b, null, null, dc, da, db, dbias, alpha, false, accumulateDa, accumulateDb, gelu,
        pre);
    bind();
    check(gelu ? "matmulGeluBackward" : "matmulBackward", AnvilCuda.anvil_cuda_matmul_bwd(p, a.dtype().code(), stream));
  }

  /** The GEMM kernels of the CUDA backend, in order of capability (anvil.h: ANVIL_GEMM_*). */
  public enum MatmulKernel {
    /** fp32 FMA from shared memory: the fp32 mode, and bf16 views the tensor-core kernels refuse. */
    SIMT,
    /** bf16 mma.sync + ldmatrix + cp.async, compute capability 8.0 and later. */
    MMA_SM80,
    /** bf16 TMA + wgmma, warp-specialized and persistent, compute capability 9.0. */
    WGMMA_SM90
  }

  /**
   * Caps the GEMM kernel every later CUDA matmul of this process may take, on every device; WGMMA_SM90 (the
   * default) is no cap. For tests and diagnosis: MMA_SM80 runs a Hopper card on the sm_80 path. Which
   * kernel a product takes otherwise depends only on its operands and the device.
   */
  public static void limitMatmulKernel(MatmulKernel most) {
    if (most == null) throw new IllegalArgumentException("limitMatmulKernel: kernel must not be null");
    check("limitMatmulKernel", AnvilCuda.anvil_cuda_matmul_limit_kernel(most.ordinal() + 1));
  }

  /** The attention kernels of the CUDA backend, in order of capability (anvil.h: ANVIL_ATTENTION_*). */
  public enum AttentionKernel {
    /** fp32 math, one warp per row: the fp32 mode, other head dims, unaligned views. */
    SIMT,
    /** bf16 FlashAttention-2 with mma.sync, compute capability 8.0 and later. */
    MMA_SM80,
    /** bf16 FA3-style TMA + wgmma forward and backward, compute capability 9.0. */
    WGMMA_SM90
  }

  /**
   * Caps the attention kernels every later CUDA attention call of this process may take, on every device;
   * WGMMA_SM90 (the default) is no cap. For tests and diagnosis: MMA_SM80 runs a Hopper card on the sm_80
   * kernels. Which kernel a call takes otherwise depends only on its arguments and the device.
   */
  public static void limitAttentionKernel(AttentionKernel most) {
    if (most == null) throw new IllegalArgumentException("limitAttentionKernel: kernel must not be null");
    check("limitAttentionKernel", AnvilCuda.anvil_cuda_attention_limit_kernel(most.ordinal() + 1));
  }

  /**
   * The kernel {@link #matmul} of these operands (same arguments and checks) would take now; null when the
   * product is empty.
   */
  public MatmulKernel matmulKernel(Tensor a, Tensor b, Tensor bias, Tensor c, boolean transA, boolean transB) {
    MatmulShape s = MatmulShape.of("matmulKernel", a, b, c, transA, transB);
    if (!a.device().equals(device())) {
      throw new IllegalArgumentException("matmulKernel: operands on " + a.device() + ", backend on " + device());
    }
    if (!supports(a.dtype()) || a.dtype() != b.dtype() || a.dtype() != c.dtype()
        || (bias != null && bias.dtype() != a.dtype())) {
      throw new IllegalArgumentException("matmulKernel: dtypes " + a.dtype() + ", " + b.dtype() + ", " + c.dtype()
          + (bias == null ? "" : ", bias " + bias.dtype()) + " must be one float type");
    }
    long p = matmulParams(s, a, b, c, bias, null, null, null, null, 1.0, false, false, false, false, null);
    long[] kernel = new long[1];
    bind();
    check("matmulKernel", AnvilCuda.anvil_cuda_matmul_fwd_kernel(p, a.dtype().code(), kernel));
    return kernel[0] == 0 ? null : MatmulKernel.values()[(int) kernel[0] - 1];
  }

  private static long matmulParams(MatmulShape s, Tensor a, Tensor b, Tensor c, Tensor bias, Tensor dc, Tensor da,
                                   Tensor db, Tensor dbias, double alpha, boolean acc, boolean accDa,
                                   boolean accDb, boolean gelu, Tensor pre) {
    return Params.begin()
        .put(addr(a)).put(addr(b)).put(addr(c)).put(addr(bias))
        .put(addr(dc)).put(addr(da)).put(addr(db)).put(addr(dbias))
        .put(s.batch()).put(s.m()).put(s.n()).put(s.k())
        .put(s.transA()).put(s.transB())
        .put(s.strideA()).put(s.strideB()).put(s.strideC())
        .put(acc).put(accDa).put(accDb)
        .putDouble(alpha)
        .put(gelu).put(addr(pre))
        .address(Params.MATMUL);
  }

  // ---- elementwise, gelu, layernorm, softmax ----------------------------------------------------

  @Override
  protected void doEltwise(Eltwise op, Tensor a, Tensor b, Tensor out, double alpha) {
    long p = CpuBackend.eltwiseParams(op, a, b, out, null, null, null, out.numel(), false, alpha);
    bind();
    check(op.name().toLowerCase(), AnvilCuda.anvil_cuda_eltwise_fwd(p, out.dtype().code(), stream));
  }

  @Override
  protected void doEltwiseBackward(Eltwise op, Tensor a, Tensor b, Tensor dout, Tensor da, Tensor db,
                                   double alpha, boolean accumulate) {
    long p = CpuBackend.eltwiseParams(op, a, b, null, dout, da, db, dout.numel(), accumulate, alpha);
    bind();
    check(op.name().toLowerCase() + "Backward", AnvilCuda.anvil_cuda_eltwise_bwd(p, dout.dtype().code(), stream));
  }

  @Override
  protected void doGelu(Tensor x, Tensor y, boolean tanh) {
    long p = Params.begin().put(addr(x)).put(addr(y)).put(0L).put(0L).put(x.numel()).put(tanh).put(false)
        .address(Params.GELU);
    bind();
    check("gelu", AnvilCuda.anvil_cuda_gelu_fwd(p, x.dtype().code(), stream));
  }

  @Override
  protected void doGeluBackward(Tensor x, Tensor dy, Tensor dx, boolean tanh, boolean accumulate) {
    long p = Params.begin().put(addr(x)).put(0L).put(addr(dy)).put(addr(dx)).put(x.numel()).put(tanh)
        .put(accumulate).address(Params.GELU);
    bind();
    check("geluBackward", AnvilCuda.anvil_cuda_gelu_bwd(p, x.dtype().code(), stream));
  }

  @Override
  protected void doLayerNorm(Tensor x, Tensor weight, Tensor bias, Tensor y, Tensor mean, Tensor rstd, double eps) {
    long p = Params.begin()
        .put(addr(x)).put(addr(weight)).put(addr(bias)).put(addr(y)).put(addr(mean)).put(addr(rstd))
        .put(0L).put(0L).put(0L).put(0L)
        .put(x.shape().rows()).put(x.dim(-1)).putDouble(eps)
        .put(y.dtype() != x.dtype()).put(false).put(false)
        .address(Params.LAYERNORM);
    bind();
    check("layerNorm", AnvilCuda.anvil_cuda_layernorm_fwd(p, x.dtype().code(), stream));
  }

  @Override
  protected void doLayerNormBackward(Tensor x, Tensor weight, Tensor mean, Tensor rstd, Tensor dy, Tensor dx,
                                     Tensor dweight, Tensor dbias, boolean accumulateDx, boolean overwriteParams) {
    long p = Params.begin()
        .put(addr(x)).put(addr(weight)).put(0L).put(0L).put(addr(mean)).put(addr(rstd))
        .put(addr(dy)).put(addr(dx)).put(addr(dweight)).put(addr(dbias))
        .put(x.shape().rows()).put(x.dim(-1)).putDouble(0.0)
        .put(dy.dtype() != x.dtype()).put(accumulateDx).put(overwriteParams)
        .address(Params.LAYERNORM);
    bind();
    check("layerNormBackward", AnvilCuda.anvil_cuda_layernorm_bwd(p, x.dtype().code(), stream));
  }

  @Override
  protected void doSoftmax(Tensor x, Tensor y, double scale) {
    long p = Params.begin().put(addr(x)).put(addr(y)).put(0L).put(0L).put(x.shape().rows()).put(x.dim(-1))
        .putDouble(scale).address(Params.SOFTMAX);
    bind();
    check("softmax", AnvilCuda.anvil_cuda_softmax_fwd(p, x.dtype().code(), stream));
  }

  @Override
  protected void doSoftmaxBackward(Tensor y, Tensor dy, Tensor dx, double scale) {
    long p = Params.begin().put(0L).put(addr(y)).put(addr(dy)).put(addr(dx)).put(y.shape().rows()).put(y.dim(-1))
        .putDouble(scale).address(Params.SOFTMAX);
    bind();
    check("softmaxBackward", AnvilCuda.anvil_cuda_softmax_bwd(p, y.dtype().code(), stream));
  }

  // ---- attention --------------------------------------------------------------------------------

  /** The stand-in attention kernel keeps a head row in registers: up to 256 elements. */
  static final int MAX_HEAD_DIM = 256;

  private static void headDim(String op, AttentionShape s) {
    if (s.spec().headDim() > MAX_HEAD_DIM) {
      throw new IllegalArgumentException(op + ": headDim " + s.spec().headDim() + " exceeds " + MAX_HEAD_DIM
          + ", the most the CUDA attention kernel supports");
    }
  }

  @Override
  protected void doAttention(AttentionShape s, Tensor q, Tensor k, Tensor v, Tensor keyMask, Tensor out,
                             Tensor lse) {
    headDim("attention", s);
    long p = CpuBackend.attentionParams(s, q, k, v, keyMask, out, lse, null, null, null, null);
    bind();
    check("attention", AnvilCuda.anvil_cuda_attention_fwd(p, q.dtype().code(), stream));
  }

  @Override
  protected void doAttentionBackward(AttentionShape s, Tensor q, Tensor k, Tensor v, Tensor keyMask, Tensor out,
                                     Tensor lse, Tensor dout, Tensor dq, Tensor dk, Tensor dv) {
    headDim("attentionBackward", s);
    long p = CpuBackend.attentionParams(s, q, k, v, keyMask, out, lse, dout, dq, dk, dv);
    bind();
    check("attentionBackward", AnvilCuda.anvil_cuda_attention_bwd(p, q.dtype().code(), stream));
  }

  // ---- decoding with the cache lengths in device memory (nothing read back: capturable) ----------

  @Override
  protected void doAttentionDecode(AttentionShape s, Tensor q, Tensor k, Tensor v, Tensor lengths, int lengthsAdd,
                                   Tensor out) {
    headDim("attentionDecode", s);
    long p = CpuBackend.attentionParams(s, q, k, v, null, out, null, null, null, null, null);
    bind();
    check("attentionDecode", AnvilCuda.anvil_cuda_attention_decode_fwd(p, addr(lengths), lengthsAdd, q.dtype().code(), stream));
  }

  @Override
  protected void doKvAppend(Tensor kSrc, int kColumn, Tensor vSrc, int vColumn, Tensor kCache, Tensor vCache,
                            Tensor lengths) {
    long e = kSrc.dtype().bytes(), ws = kSrc.dim(2);
    long p = Params.begin().put(addr(kSrc) + kColumn * e).put(addr(vSrc) + vColumn * e).put(addr(kCache))
        .put(addr(vCache)).put(addr(lengths)).put(kSrc.dim(0)).put(kSrc.dim(1)).put(kCache.dim(2)).put(kCache.dim(1))
        .put(ws).put(kSrc.dim(1) * ws).address(Params.KV_APPEND);
    bind();
    check("kvAppend", AnvilCuda.anvil_cuda_kv_append(p, kSrc.dtype().code(), stream));
  }

  @Override
  protected void doKvAdvance(Tensor lengths, int n) {
    bind();
    check("kvAdvance", AnvilCuda.anvil_cuda_kv_advance(addr(lengths), lengths.numel(), n, stream));
  }

  // ---- embedding, cross-entropy -----------------------------------------------------------------

  @Override
  protected void doEmbedding(Tensor ids, Tensor table, Tensor out) {
    long p = Params.begin().put(addr(ids)).put(addr(table)).put(addr(out)).put(0L).put(0L)
        .put(ids.numel()).put(table.dim(0)).put(table.dim(1)).address(Params.EMBEDDING);
    bind();
    check("embedding", AnvilCuda.anvil_cuda_embedding_fwd(p, table.dtype().code(), stream));
  }

  @Override
  protected void doEmbeddingBackward(Tensor ids, Tensor dout, Tensor dtable) {
    long p = Params.begin().put(addr(ids)).put(0L).put(0L).put(addr(dout)).put(addr(dtable))
        .put(ids.numel()).put(dtable.dim(0)).put(dtable.dim(1)).address(Params.EMBEDDING);
    bind();
    check("embeddingBackward", AnvilCuda.anvil_cuda_embedding_bwd(p, dout.dtype().code(), stream));
  }

  @Override
  protected void doCrossEntropy(Tensor logits, Tensor targets, int vocab, int ignoreIndex, double normalizer,
                                Tensor losses, Tensor loss) {
    long p = Params.begin().put(addr(logits)).put(addr(targets)).put(addr(losses)).put(addr(loss)).put(0L)
        .put(logits.shape().rows()).put(vocab).put(logits.dim(-1)).put(ignoreIndex)
        .putDouble(normalizer).putDouble(1.0).address(Params.CROSS_ENTROPY);
    bind();
    check("crossEntropy", AnvilCuda.anvil_cuda_cross_entropy_fwd(p, logits.dtype().code(), stream));
  }

  @Override
  protected void doCrossEntropyBackward(Tensor logits, Tensor targets, int vocab, int ignoreIndex,
                                        double normalizer, double grad, Tensor dlogits) {
    long p = Params.begin().put(addr(logits)).put(addr(targets)).put(0L).put(0L).put(addr(dlogits))
        .put(logits.shape().rows()).put(vocab).put(logits.dim(-1)).put(ignoreIndex)
        .putDouble(normalizer).putDouble(grad).address(Params.CROSS_ENTROPY);
    bind();
    check("crossEntropyBackward", AnvilCuda.anvil_cuda_cross_entropy_bwd(p, logits.dtype().code(), stream));
  }

  /**
   * {@link #crossEntropyBackward} with the loss's gradient read from device memory: dgrad (1) F32 on this
   * device, so a backward pass makes no host read and can be captured in a {@link CudaGraph}. logits
   * (..., Vpad) F32/BF16, targets I32 (rows), dlogits like logits (written).
   */
  public void crossEntropyBackwardDeviceGrad(Tensor logits, Tensor targets, int vocab, int ignoreIndex,
                                             double normalizer, Tensor dgrad, Tensor dlogits) {
    String op = "crossEntropyBackwardDeviceGrad";
    for (Tensor t : new Tensor[] {logits, targets, dgrad, dlogits}) {
      if (t == null) throw new IllegalArgumentException(op + ": logits, targets, dgrad and dlogits are required");
      if (t.isClosed()) throw new IllegalStateException(op + ": " + t + " is closed");
      if (!t.device().equals(device())) throw new IllegalArgumentException(op + ": " + t + " is not on " + device());
    }
    if (!supports(logits.dtype()) || logits.rank() < 1) {
      throw new IllegalArgumentException(op + ": logits must be F32 or BF16 (..., V), got " + logits.shape() + " " + logits.dtype());
    }
    long width = logits.dim(-1), rows = logits.shape().rows();
    if (targets.dtype() != DType.I32 || targets.numel() != rows) {
      throw new IllegalArgumentException(op + ": targets must be I32 with " + rows + " elements, got " + targets.shape());
    }
    if (vocab <= 0 || vocab > width) throw new IllegalArgumentException(op + ": vocab " + vocab + " outside [1, " + width + "]");
    if (!(normalizer > 0) || !Double.isFinite(normalizer)) {
      throw new IllegalArgumentException(op + ": normalizer must be > 0 and finite, got " + normalizer);
    }
    if (dgrad.dtype() != DType.F32 || dgrad.numel() != 1) {
      throw new IllegalArgumentException(op + ": dgrad must be one F32 element, got " + dgrad.shape() + " " + dgrad.dtype());
    }
    if (!dlogits.shape().equals(logits.shape()) || dlogits.dtype() != logits.dtype()) {
      throw new IllegalArgumentException(op + ": dlogits " + dlogits.shape() + " " + dlogits.dtype() + " must match logits "
          + logits.shape() + " " + logits.dtype());
    }
    if (dlogits.address() == logits.address()) throw new IllegalArgumentException(op + ": dlogits must not alias logits");
    long p = Params.begin().put(addr(logits)).put(addr(targets)).put(0L).put(0L).put(addr(dlogits))
        .put(rows).put(vocab).put(width).put(ignoreIndex).putDouble(normalizer).putDouble(1.0)
        .address(Params.CROSS_ENTROPY);
    bind();
    check(op, AnvilCuda.anvil_cuda_cross_entropy_bwd_dgrad(p, dgrad.address(), logits.dtype().code(), stream));
  }

  // ---- optimizer --------------------------------------------------------------------------------

  @Override
  protected void doAdamw(List<Tensor> params, List<Tensor> grads, List<Tensor> m, List<Tensor> v,
                         boolean[] decay, AdamWStep step) {
    int n = params.size();
    // Host arrays of addresses; the launcher copies them into kernel parameters before returning.
    try (LongPointer lists = new LongPointer(6L * n)) {
      for (int i = 0; i < n; i++) {
        lists.put(i, params.get(i).address());
        lists.put(n + i, grads.get(i).address());
        lists.put(2L * n + i, m.get(i).address());
        lists.put(3L * n + i, v.get(i).address());
        lists.put(4L * n + i, params.get(i).numel());
        lists.put(5L * n + i, decay[i] ? 1 : 0);
      }
      long base = lists.address();
      long p = Params.begin()
          .put(base).put(base + 8L * n).put(base + 16L * n).put(base + 24L * n).put(base + 32L * n)
          .put(base + 40L * n)
          .put(n).put(step.step())
          .putDouble(step.lr()).putDouble(step.beta1()).putDouble(step.beta2()).putDouble(step.eps())
          .putDouble(step.weightDecay()).putDouble(step.gradScale())
          .address(Params.ADAMW);
      bind();
      check("adamw", AnvilCuda.anvil_cuda_adamw_fwd(p, stream));
    }
  }

  @Override
  protected double doGradNorm(List<Tensor> grads) {
    int n = grads.size();
    try (LongPointer lists = new LongPointer(2L * n);
         DoublePointer out = new DoublePointer(1)) {
      for (int i = 0; i < n; i++) {
        lists.put(i, grads.get(i).address());
        lists.put(n + i, grads.get(i).numel());
      }
      long p = Params.begin().put(lists.address()).put(lists.address() + 8L * n).put(n).put(out.address())
          .address(Params.GRAD_NORM);
      bind();
      check("gradNorm", AnvilCuda.anvil_cuda_grad_norm_fwd(p, stream));
      return out.get(0);
    }
  }

  // ---- Llama-family ops -------------------------------------------------------------------------

  @Override
  protected void doRmsNorm(Tensor x, Tensor weight, Tensor y, Tensor rstd, double eps) {
    long p = CpuBackend.rmsNormParams(x, weight, y, rstd, null, null, null, eps);
    bind();
    check("rmsNorm", AnvilCuda.anvil_cuda_rmsnorm_fwd(p, x.dtype().code(), stream));
  }

  @Override
  protected void doRmsNormBackward(Tensor x, Tensor weight, Tensor rstd, Tensor dy, Tensor dx, Tensor dweight,
                                   double eps) {
    long p = CpuBackend.rmsNormParams(x, weight, null, rstd, dy, dx, dweight, eps);
    bind();
    check("rmsNormBackward", AnvilCuda.anvil_cuda_rmsnorm_bwd(p, x.dtype().code(), stream));
  }

  @Override
  protected void doRope(Tensor x, Tensor out, int heads, int headDim, long posOffset, double theta,
                        boolean inverse) {
    long p = CpuBackend.ropeParams(x, out, heads, headDim, posOffset, theta);
    bind();
    long dtype = x.dtype().code();
    check(inverse ? "ropeBackward" : "rope",
        inverse ? AnvilCuda.anvil_cuda_rope_bwd(p, dtype, stream) : AnvilCuda.anvil_cuda_rope_fwd(p, dtype, stream));
  }

  @Override
  protected void doSwiglu(Tensor a, Tensor b, Tensor out) {
    long p = CpuBackend.swigluParams(a, b, out, null, null, null, out.numel(), false);
    bind();
    check("swiglu", AnvilCuda.anvil_cuda_swiglu_fwd(p, a.dtype().code(), stream));
  }

  @Override
  protected void doSwigluBackward(Tensor a, Tensor b, Tensor dout, Tensor da, Tensor db, boolean accumulate) {
    long p = CpuBackend.swigluParams(a, b, null, dout, da, db, dout.numel(), accumulate);
    bind();
    check("swigluBackward", AnvilCuda.anvil_cuda_swiglu_bwd(p, a.dtype().code(), stream));
  }

  @Override
  protected void doRepeatKv(Tensor x, Tensor out, int kvHeads, int groups, int headDim) {
    long p = CpuBackend.repeatKvParams(x, out, null, null, x.numel() / ((long) kvHeads * headDim), kvHeads, groups,
        headDim, false);
    bind();
    check("repeatKv", AnvilCuda.anvil_cuda_repeat_kv_fwd(p, x.dtype().code(), stream));
  }

  @Override
  protected void doRepeatKvBackward(Tensor dout, Tensor dx, int kvHeads, int groups, int headDim,
                                    boolean accumulate) {
    long p = CpuBackend.repeatKvParams(null, null, dout, dx, dx.numel() / ((long) kvHeads * headDim), kvHeads, groups,
        headDim, accumulate);
    bind();
    check("repeatKvBackward", AnvilCuda.anvil_cuda_repeat_kv_bwd(p, dout.dtype().code(), stream));
  }
}
