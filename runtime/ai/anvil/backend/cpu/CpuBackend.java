package ai.anvil.backend.cpu;

import ai.anvil.backend.AdamWStep;
import ai.anvil.backend.AnvilException;
import ai.anvil.backend.AttentionShape;
import ai.anvil.backend.AttentionSpec;
import ai.anvil.backend.Backend;
import ai.anvil.backend.MatmulShape;
import ai.anvil.bind.AnvilCpu;
import ai.anvil.bind.HostMemory;
import ai.anvil.bind.Params;
import ai.anvil.tensor.DType;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Tensor;
import java.nio.ByteBuffer;
import java.util.List;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.LongPointer;

/**
 * The CPU backend: fp32 kernels of libanvil_cpu (native/cpu/*.cpp), one JNI call per op. Arguments
 * arrive validated by {@link Backend}; this class only lays out the params structs of anvil.h.
 */
public final class CpuBackend extends Backend {
  private static final CpuBackend INSTANCE = new CpuBackend();

  private CpuBackend() {
    super(Device.CPU);
    long abi = AnvilCpu.anvil_abi_version();
    if (abi != 1) throw new IllegalStateException("libanvil_cpu ABI " + abi + " does not match this jar's 1");
  }

  public static CpuBackend instance() {
    return INSTANCE;
  }

  /**
   * Sets the OpenMP thread count of all CPU kernels, process-wide. OpenMP keeps this setting per OS
   * thread, so each JVM thread applies the latest value before its next kernel ({@link #begin()}).
   */
  public static void setThreads(int threads) {
    if (threads < 1) throw new IllegalArgumentException("threads must be >= 1, got " + threads);
    check("setThreads", AnvilCpu.anvil_cpu_set_threads(threads));
    requestedThreads = threads;
    appliedThreads.set(threads);
  }

  /** The thread count kernels use (the OpenMP default, the core count, until set). */
  public static int threads() {
    applyThreads();
    return (int) AnvilCpu.anvil_cpu_get_threads();
  }

  private static volatile int requestedThreads;
  private static final ThreadLocal<Integer> appliedThreads = ThreadLocal.withInitial(() -> 0);

  private static void applyThreads() {
    int wanted = requestedThreads;
    if (wanted > 0 && appliedThreads.get() != wanted) {
      check("setThreads", AnvilCpu.anvil_cpu_set_threads(wanted));
      appliedThreads.set(wanted);
    }
  }

  /** Starts the params block of a kernel call on this thread, with this thread's OpenMP setting current. */
  private static Params begin() {
    applyThreads();
    return Params.begin();
  }

  /** The GEMM micro-kernel chosen for this CPU at run time. */
  public static String gemmKernel() {
    return AnvilCpu.anvil_cpu_gemm_kernel().getString();
  }

  /** CPU features detected at run time (bit set of ANVIL_CPU_* of anvil.h), as names. */
  public static String features() {
    long bits = AnvilCpu.anvil_cpu_features();
    StringBuilder b = new StringBuilder();
    String[] names = {"avx2", "fma", "avx512f", "avx512_bf16"};
    for (int i = 0; i < names.length; i++) if ((bits & (1L << i)) != 0) b.append(b.length() == 0 ? "" : " ").append(names[i]);
    return b.length() == 0 ? "baseline x86-64" : b.toString();
  }

  static void check(String op, int rc) {
    if (rc != 0) throw new AnvilException(op, rc, AnvilCpu.anvil_last_error().getString());
  }

  private static long addr(Tensor t) {
    return t == null ? 0L : t.address();
  }

  @Override
  public boolean supports(DType dtype) {
    return dtype == DType.F32;
  }

  // ---- memory -----------------------------------------------------------------------------------

  @Override
  public long allocate(long bytes) {
    long address = AnvilCpu.anvil_cpu_alloc(bytes);
    if (address == 0) throw new AnvilException("allocate", 2, AnvilCpu.anvil_last_error().getString());
    return address;
  }

  @Override
  public void free(long address) {
    AnvilCpu.anvil_cpu_free(address);
  }

  /**
   * Bytes that freed tensors left in the native host-memory cache for reuse (native/cpu/allocator.cpp).
   * {@link ai.anvil.tensor.MemoryStats} counts live tensor bytes only; this is the rest of what the
   * process holds for CPU tensors.
   */
  public static long cachedBytes() {
    return AnvilCpu.anvil_cpu_cached_bytes();
  }

  /** Bounds the cached bytes (default: a quarter of physical memory); 0 turns the cache off. */
  public static void setCacheLimit(long bytes) {
    if (bytes < 0) throw new IllegalArgumentException("cache limit must be >= 0, got " + bytes);
    check("setCacheLimit", AnvilCpu.anvil_cpu_set_cache_limit(bytes));
  }

  /** The bound on cached bytes. */
  public static long cacheLimit() {
    return AnvilCpu.anvil_cpu_get_cache_limit();
  }

  /** Returns every cached block to the C heap (for a service going idle); live tensors are untouched. */
  public static void releaseCache() {
    AnvilCpu.anvil_cpu_release_cache();
  }

  @Override
  protected void doCopyFromHost(Tensor dst, ByteBuffer src) {
    HostMemory.view(dst.address(), dst.bytes()).put(src.duplicate().clear());
  }

  @Override
  protected void doCopyToHost(Tensor src, ByteBuffer dst) {
    dst.duplicate().clear().put(HostMemory.view(src.address(), src.bytes()));
  }

  /** F32 to F32 only (Backend.cast refuses every other dtype here): a copy, or an add when accumulating. */
  @Override
  protected void doCast(Tensor src, Tensor dst, boolean accumulate) {
    if (accumulate) doEltwise(Eltwise.AXPY, src, null, dst, 1.0);
    else doCopy(src, dst);
  }

  @Override
  protected void doCopy(Tensor src, Tensor dst) {
    check("copy", AnvilCpu.anvil_cpu_copy(dst.address(), src.address(), src.bytes()));
  }

  @Override
  protected void doFill(Tensor t, double value) {
    if (t.dtype() == DType.I32) {
      java.nio.IntBuffer ints = HostMemory.view(t.address(), t.bytes()).asIntBuffer();
      for (int i = 0; i < ints.capacity(); i++) ints.put(i, (int) value);
    } else {
      check("fill", AnvilCpu.anvil_cpu_fill_f32(t.address(), t.numel(), value));
    }
  }

  @Override
  public void synchronize() {}

  // ---- matmul -----------------------------------------------------------------------------------

  @Override
  protected void doMatmul(MatmulShape s, Tensor a, Tensor b, Tensor bias, Tensor c, Tensor pre, boolean gelu,
                          double alpha, boolean accumulate) {
    long p = matmulParams(s, a, b, c, bias, null, null, null, null, alpha, accumulate, false, false, gelu, pre);
    check(gelu ? "matmulGelu" : "matmul", AnvilCpu.anvil_cpu_matmul_fwd(p));
  }

  @Override
  protected void doMatmulBackward(MatmulShape s, Tensor a, Tensor b, Tensor dc, Tensor da, Tensor db,
                                  Tensor dbias, Tensor pre, boolean gelu, double alpha, boolean accumulateDa,
                                  boolean accumulateDb) {
    long p = matmulParams(s, a, b, null, null, dc, da, db, dbias, alpha, false, accumulateDa, accumulateDb, gelu,
        pre);
    check(gelu ? "matmulGeluBackward" : "matmulBackward", AnvilCpu.anvil_cpu_matmul_bwd(p));
  }

  private static long matmulParams(MatmulShape s, Tensor a, Tensor b, Tensor c, Tensor bias, Tensor dc, Tensor da,
                                   Tensor db, Tensor dbias, double alpha, boolean acc, boolean accDa,
                                   boolean accDb, boolean gelu, Tensor pre) {
    return begin()
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

  // ---- elementwise ------------------------------------------------------------------------------

  @Override
  protected void doEltwise(Eltwise op, Tensor a, Tensor b, Tensor out, double alpha) {
    long p = eltwiseParams(op, a, b, out, null, null, null, out.numel(), false, alpha);
    check(op.name().toLowerCase(), AnvilCpu.anvil_cpu_eltwise_fwd(p));
  }

  @Override
  protected void doEltwiseBackward(Eltwise op, Tensor a, Tensor b, Tensor dout, Tensor da, Tensor db,
                                   double alpha, boolean accumulate) {
    long p = eltwiseParams(op, a, b, null, dout, da, db, dout.numel(), accumulate, alpha);
    check(op.name().toLowerCase() + "Backward", AnvilCpu.anvil_cpu_eltwise_bwd(p));
  }

  /** The params of anvil_eltwise_params; shared with the CUDA backend. */
  public static long eltwiseParams(Eltwise op, Tensor a, Tensor b, Tensor out, Tensor dout, Tensor da, Tensor db,
                                   long n, boolean accumulate, double alpha) {
    return begin()
        .put(op.ordinal())
        .put(addr(a)).put(addr(b)).put(addr(out))
        .put(addr(dout)).put(addr(da)).put(addr(db))
        .put(n).put(accumulate).putDouble(alpha)
        .put(out != null && b != null && b.dtype() == DType.BF16 && out.dtype() == DType.F32)
        .address(Params.ELTWISE);
  }

  // ---- gelu, layernorm, softmax -----------------------------------------------------------------

  @Override
  protected void doGelu(Tensor x, Tensor y, boolean tanh) {
    long p = begin().put(addr(x)).put(addr(y)).put(0L).put(0L).put(x.numel()).put(tanh).put(false)
        .address(Params.GELU);
    check("gelu", AnvilCpu.anvil_cpu_gelu_fwd(p));
  }

  @Override
  protected void doGeluBackward(Tensor x, Tensor dy, Tensor dx, boolean tanh, boolean accumulate) {
    long p = begin().put(addr(x)).put(0L).put(addr(dy)).put(addr(dx)).put(x.numel()).put(tanh)
        .put(accumulate).address(Params.GELU);
    check("geluBackward", AnvilCpu.anvil_cpu_gelu_bwd(p));
  }

  @Override
  protected void doLayerNorm(Tensor x, Tensor weight, Tensor bias, Tensor y, Tensor mean, Tensor rstd, double eps) {
    long p = begin()
        .put(addr(x)).put(addr(weight)).put(addr(bias)).put(addr(y)).put(addr(mean)).put(addr(rstd))
        .put(0L).put(0L).put(0L).put(0L)
        .put(x.shape().rows()).put(x.dim(-1)).putDouble(eps)
        .put(y.dtype() != x.dtype()).put(false).put(false)
        .address(Params.LAYERNORM);
    check("layerNorm", AnvilCpu.anvil_cpu_layernorm_fwd(p));
  }

  @Override
  protected void doLayerNormBackward(Tensor x, Tensor weight, Tensor mean, Tensor rstd, Tensor dy, Tensor dx,
                                     Tensor dweight, Tensor dbias, boolean accumulateDx, boolean overwriteParams) {
    long p = begin()
        .put(addr(x)).put(addr(weight)).put(0L).put(0L).put(addr(mean)).put(addr(rstd))
        .put(addr(dy)).put(addr(dx)).put(addr(dweight)).put(addr(dbias))
        .put(x.shape().rows()).put(x.dim(-1)).putDouble(0.0)
        .put(dy.dtype() != x.dtype()).put(accumulateDx).put(overwriteParams)
        .address(Params.LAYERNORM);
    check("layerNormBackward", AnvilCpu.anvil_cpu_layernorm_bwd(p));
  }

  @Override
  protected void doSoftmax(Tensor x, Tensor y, double scale) {
    long p = begin().put(addr(x)).put(addr(y)).put(0L).put(0L).put(x.shape().rows()).put(x.dim(-1))
        .putDouble(scale).address(Params.SOFTMAX);
    check("softmax", AnvilCpu.anvil_cpu_softmax_fwd(p));
  }

  @Override
  protected void doSoftmaxBackward(Tensor y, Tensor dy, Tensor dx, double scale) {
    long p = begin().put(0L).put(addr(y)).put(addr(dy)).put(addr(dx)).put(y.shape().rows()).put(y.dim(-1))
        .putDouble(scale).address(Params.SOFTMAX);
    check("softmaxBackward", AnvilCpu.anvil_cpu_softmax_bwd(p));
  }

  // ---- attention --------------------------------------------------------------------------------

  @Override
  protected void doAttention(AttentionShape s, Tensor q, Tensor k, Tensor v, Tensor keyMask, Tensor out,
                             Tensor lse) {
    long p = attentionParams(s, q, k, v, keyMask, out, lse, null, null, null, null);
    check("attention", AnvilCpu.anvil_cpu_attention_fwd(p));
  }

  @Override
  protected void doAttentionBackward(AttentionShape s, Tensor q, Tensor k, Tensor v, Tensor keyMask, Tensor out,
                                     Tensor lse, Tensor dout, Tensor dq, Tensor dk, Tensor dv) {
    long p = attentionParams(s, q, k, v, keyMask, out, lse, dout, dq, dk, dv);
    check("attentionBackward", AnvilCpu.anvil_cpu_attention_bwd(p));
  }

  /**
   * anvil_attention_params. Pointers are shifted to each operand's head-0 column; the gradient of an
   * operand shares its strides and column. Element size is taken from q (fp32 here, bf16 on CUDA).
   */
  public static long attentionParams(AttentionShape s, Tensor q, Tensor k, Tensor v, Tensor keyMask, Tensor out,
                                     Tensor lse, Tensor dout, Tensor dq, Tensor dk, Tensor dv) {
    AttentionSpec spec = s.spec();
    long e = q.dtype().bytes();
    long qOff = spec.qColumn() * e, kOff = spec.kColumn() * e, vOff = spec.vColumn() * e;
    long w = spec.width();
    return begin()
        .put(addr(q) + qOff).put(addr(k) + kOff).put(addr(v) + vOff).put(addr(out)).put(addr(lse))
        .put(addr(keyMask))
        .put(addr(dout)).put(dq == null ? 0 : addr(dq) + qOff).put(dk == null ? 0 : addr(dk) + kOff)
        .put(dv == null ? 0 : addr(dv) + vOff)
        .put(s.batch()).put(spec.heads()).put(s.qLen()).put(s.kLen()).put(spec.headDim())
        .put(s.qWidth()).put(s.kWidth()).put(s.vWidth()).put(w)
        .put(s.qLen() * s.qWidth()).put(s.kLen() * s.kWidth()).put(s.kLen() * s.vWidth()).put(s.qLen() * w)
        .put(spec.causal()).putDouble(spec.scale())
        .address(Params.ATTENTION);
  }

  // ---- embedding, cross-entropy -----------------------------------------------------------------

  @Override
  protected void doEmbedding(Tensor ids, Tensor table, Tensor out) {
    long p = begin().put(addr(ids)).put(addr(table)).put(addr(out)).put(0L).put(0L)
        .put(ids.numel()).put(table.dim(0)).put(table.dim(1)).address(Params.EMBEDDING);
    check("embedding", AnvilCpu.anvil_cpu_embedding_fwd(p));
  }

  @Override
  protected void doEmbeddingBackward(Tensor ids, Tensor dout, Tensor dtable) {
    long p = begin().put(addr(ids)).put(0L).put(0L).put(addr(dout)).put(addr(dtable))
        .put(ids.numel()).put(dtable.dim(0)).put(dtable.dim(1)).address(Params.EMBEDDING);
    check("embeddingBackward", AnvilCpu.anvil_cpu_embedding_bwd(p));
  }

  @Override
  protected void doCrossEntropy(Tensor logits, Tensor targets, int vocab, int ignoreIndex, double normalizer,
                                Tensor losses, Tensor loss) {
    long p = begin().put(addr(logits)).put(addr(targets)).put(addr(losses)).put(addr(loss)).put(0L)
        .put(logits.shape().rows()).put(vocab).put(logits.dim(-1)).put(ignoreIndex)
        .putDouble(normalizer).putDouble(1.0).address(Params.CROSS_ENTROPY);
    check("crossEntropy", AnvilCpu.anvil_cpu_cross_entropy_fwd(p));
  }

  @Override
  protected void doCrossEntropyBackward(Tensor logits, Tensor targets, int vocab, int ignoreIndex,
                                        double normalizer, double grad, Tensor dlogits) {
    long p = begin().put(addr(logits)).put(addr(targets)).put(0L).put(0L).put(addr(dlogits))
        .put(logits.shape().rows()).put(vocab).put(logits.dim(-1)).put(ignoreIndex)
        .putDouble(normalizer).putDouble(grad).address(Params.CROSS_ENTROPY);
    check("crossEntropyBackward", AnvilCpu.anvil_cpu_cross_entropy_bwd(p));
  }

  // ---- optimizer --------------------------------------------------------------------------------

  @Override
  protected void doAdamw(List<Tensor> params, List<Tensor> grads, List<Tensor> m, List<Tensor> v,
                         boolean[] decay, AdamWStep step) {
    int n = params.size();
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
      long p = begin()
          .put(base).put(base + 8L * n).put(base + 16L * n).put(base + 24L * n).put(base + 32L * n)
          .put(base + 40L * n)
          .put(n).put(step.step())
          .putDouble(step.lr()).putDouble(step.beta1()).putDouble(step.beta2()).putDouble(step.eps())
          .putDouble(step.weightDecay()).putDouble(step.gradScale())
          .address(Params.ADAMW);
      check("adamw", AnvilCpu.anvil_cpu_adamw_fwd(p));
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
      long p = begin().put(lists.address()).put(lists.address() + 8L * n).put(n).put(out.address())
          .address(Params.GRAD_NORM);
      check("gradNorm", AnvilCpu.anvil_cpu_grad_norm_fwd(p));
      return out.get(0);
    }
  }

  // ---- Llama-family ops -------------------------------------------------------------------------

  @Override
  protected void doRmsNorm(Tensor x, Tensor weight, Tensor y, Tensor rstd, double eps) {
    long p = rmsNormParams(x, weight, y, rstd, null, null, null, eps);
    check("rmsNorm", AnvilCpu.anvil_cpu_rmsnorm_fwd(p));
  }

  @Override
  protected void doRmsNormBackward(Tensor x, Tensor weight, Tensor rstd, Tensor dy, Tensor dx, Tensor dweight,
                                   double eps) {
    long p = rmsNormParams(x, weight, null, rstd, dy, dx, dweight, eps);
    check("rmsNormBackward", AnvilCpu.anvil_cpu_rmsnorm_bwd(p));
  }

  /** anvil_rmsnorm_params; shared with the CUDA backend. */
  public static long rmsNormParams(Tensor x, Tensor weight, Tensor y, Tensor rstd, Tensor dy, Tensor dx,
                                   Tensor dweight, double eps) {
    return Params.begin()
        .put(addr(x)).put(addr(weight)).put(addr(y)).put(addr(rstd))
        .put(addr(dy)).put(addr(dx)).put(addr(dweight))
        .put(x.shape().rows()).put(x.dim(-1)).putDouble(eps)
        .address(Params.RMSNORM);
  }

  @Override
  protected void doRope(Tensor x, Tensor out, int heads, int headDim, long posOffset, double theta,
                        boolean inverse) {
    long p = ropeParams(x, out, heads, headDim, posOffset, theta);
    check(inverse ? "ropeBackward" : "rope", inverse ? AnvilCpu.anvil_cpu_rope_bwd(p) : AnvilCpu.anvil_cpu_rope_fwd(p));
  }

  /** anvil_rope_params; shared with the CUDA backend. */
  public static long ropeParams(Tensor x, Tensor out, int heads, int headDim, long posOffset, double theta) {
    return Params.begin()
        .put(addr(x)).put(addr(out))
        .put(x.dim(0)).put(x.dim(1)).put(heads).put(headDim)
        .put(posOffset).putDouble(theta)
        .address(Params.ROPE);
  }

  @Override
  protected void doSwiglu(Tensor a, Tensor b, Tensor out) {
    long p = swigluParams(a, b, out, null, null, null, out.numel(), false);
    check("swiglu", AnvilCpu.anvil_cpu_swiglu_fwd(p));
  }

  @Override
  protected void doSwigluBackward(Tensor a, Tensor b, Tensor dout, Tensor da, Tensor db, boolean accumulate) {
    long p = swigluParams(a, b, null, dout, da, db, dout.numel(), accumulate);
    check("swigluBackward", AnvilCpu.anvil_cpu_swiglu_bwd(p));
  }

  /** anvil_swiglu_params; shared with the CUDA backend. */
  public static long swigluParams(Tensor a, Tensor b, Tensor out, Tensor dout, Tensor da, Tensor db, long n,
                                  boolean accumulate) {
    return Params.begin()
        .put(addr(a)).put(addr(b)).put(addr(out))
        .put(addr(dout)).put(addr(da)).put(addr(db))
        .put(n).put(accumulate)
        .address(Params.SWIGLU);
  }

  @Override
  protected void doRepeatKv(Tensor x, Tensor out, int kvHeads, int groups, int headDim) {
    long p = repeatKvParams(x, out, null, null, x.numel() / ((long) kvHeads * headDim), kvHeads, groups, headDim, false);
    check("repeatKv", AnvilCpu.anvil_cpu_repeat_kv_fwd(p));
  }

  @Override
  protected void doRepeatKvBackward(Tensor dout, Tensor dx, int kvHeads, int groups, int headDim,
                                    boolean accumulate) {
    long p = repeatKvParams(null, null, dout, dx, dx.numel() / ((long) kvHeads * headDim), kvHeads, groups, headDim,
        accumulate);
    check("repeatKvBackward", AnvilCpu.anvil_cpu_repeat_kv_bwd(p));
  }

  /** anvil_repeat_kv_params; shared with the CUDA backend. */
  public static long repeatKvParams(Tensor x, Tensor out, Tensor dout, Tensor dx, long rows, int kvHeads, int groups,
                                    int headDim, boolean accumulate) {
    return Params.begin()
        .put(addr(x)).put(addr(out)).put(addr(dout)).put(addr(dx))
        .put(rows).put(kvHeads).put(groups).put(headDim)
        .put(accumulate)
        .address(Params.REPEAT_KV);
  }
}
