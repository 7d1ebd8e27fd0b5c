package ai.anvil.backend;

import ai.anvil.backend.cpu.CpuBackend;
import ai.anvil.backend.cuda.CudaBackend;
import ai.anvil.tensor.DType;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Tensor;
import java.nio.ByteBuffer;
import java.util.List;

/**
 * The backend SPI: memory and the closed set of ops a transformer step needs, each forward with its
 * backward. The public methods here are final and validate every argument (liveness, device, dtype,
 * shape; DESIGN.md "The native boundary") before calling the device's protected {@code do*}
 * implementation, which may then assume all of it. Implementations: {@link CpuBackend} (fp32) and
 * {@link CudaBackend} (fp32 and bf16).
 *
 * <p>Output tensors are passed in, never allocated here: autograd owns allocation. "Written" outputs
 * are overwritten (=); parameter gradients accumulate (+=), as each method says.
 */
public abstract class Backend {
  private final Device device;

  protected Backend(Device device) {
    this.device = device;
  }

  /** The backend of a device; throws IllegalStateException when that device is unusable. */
  public static Backend of(Device device) {
    return device.isCpu() ? CpuBackend.instance() : CudaBackend.forDevice(device.index());
  }

  public final Device device() {
    return device;
  }

  /** Whether floating-point tensors of this dtype are supported (CPU: F32; CUDA: F32 and BF16). */
  public abstract boolean supports(DType dtype);

  // ---- memory (called by tensor.Storage and Tensor; not by user code) ---------------------------

  /** Allocates bytes of device memory; throws AnvilException when out of memory. */
  public abstract long allocate(long bytes);

  public abstract void free(long address);

  /** Copies src (a direct buffer of exactly dst.bytes() bytes, native order) into dst. */
  public final void copyFromHost(Tensor dst, ByteBuffer src) {
    Checks.present("copyFromHost", "dst", dst, device);
    hostBuffer("copyFromHost", src, dst.bytes());
    doCopyFromHost(dst, src);
  }

  /** Copies src into dst (a direct buffer of exactly src.bytes() bytes). Synchronizes. */
  public final void copyToHost(Tensor src, ByteBuffer dst) {
    Checks.present("copyToHost", "src", src, device);
    hostBuffer("copyToHost", dst, src.bytes());
    doCopyToHost(src, dst);
  }

  /** dst = src, same shape and dtype, same device. */
  public final void copy(Tensor src, Tensor dst) {
    Checks.present("copy", "src", src, device);
    Checks.present("copy", "dst", dst, device);
    Checks.shape("copy", "dst", dst, src.shape());
    Checks.sameDtype("copy", src, "dst", dst);
    doCopy(src, dst);
  }

  /** Every element of t = value (any dtype; I32 takes the integer part). */
  public final void fill(Tensor t, double value) {
    Checks.present("fill", "t", t, device);
    doFill(t, value);
  }

  /**
   * dst (=, or += when accumulate) = src converted to dst's dtype (F32 or BF16; bf16 rounded to nearest
   * even), same shape, same device. The gradient of a cast is the cast the other way. The CPU backend is
   * fp32 only, so there it is a copy (or an add) of F32 into F32.
   */
  public final void cast(Tensor src, Tensor dst, boolean accumulate) {
    Checks.present("cast", "src", src, device);
    Checks.present("cast", "dst", dst, device);
    Checks.shape("cast", "dst", dst, src.shape());
    for (Tensor t : new Tensor[] {src, dst}) {
      if (t.dtype() == DType.I32 || !supports(t.dtype())) {
        throw new IllegalArgumentException("cast: " + t.dtype() + " tensors are not supported on " + device + " (casting "
            + src.dtype() + " " + src.shape() + " to " + dst.dtype() + ")");
      }
    }
    Checks.distinct("cast", "dst", dst, src);
    doCast(src, dst, accumulate);
  }

  protected abstract void doCast(Tensor src, Tensor dst, boolean accumulate);

  /** Waits for all queued work of this device (a no-op on the CPU). */
  public abstract void synchronize();

  private static void hostBuffer(String op, ByteBuffer buffer, long bytes) {
    if (buffer == null || !buffer.isDirect()) throw new IllegalArgumentException(op + ": host buffer must be direct");
    if (buffer.capacity() != bytes) {
      throw new IllegalArgumentException(op + ": host buffer has " + buffer.capacity() + " bytes, tensor " + bytes);
    }
  }

  protected abstract void doCopyFromHost(Tensor dst, ByteBuffer src);

  protected abstract void doCopyToHost(Tensor src, ByteBuffer dst);

  protected abstract void doCopy(Tensor src, Tensor dst);

  protected abstract void doFill(Tensor t, double value);

  // ---- matmul -----------------------------------------------------------------------------------

  /**
   * c = alpha * op(a) @ op(b) + bias [+ c when accumulate].
   * a: (m,k), or (k,m) when transA; b: (k,n), or (n,k) when transB (a Linear's (out,in) weight);
   * either may carry a leading batch dimension (a 2-D operand is broadcast over the batch), and then c
   * is (batch,m,n), else (m,n). bias: (n) or null.
   */
  public final void matmul(Tensor a, Tensor b, Tensor bias, Tensor c, boolean transA, boolean transB,
                           double alpha, boolean accumulate) {
    MatmulShape s = checkMatmul("matmul", a, b, bias, c, transA, transB, alpha);
    doMatmul(s, a, b, bias, c, null, false, alpha, accumulate);
  }

  /**
   * c = gelu(alpha * op(a) @ op(b) + bias), GELU in GPT-2's tanh form, fused into the product's epilogue;
   * pre (optional, c's shape and dtype) receives v = alpha * op(a) @ op(b) + bias, which
   * {@link #matmulGeluBackward} needs. Shapes as {@link #matmul}; there is no accumulating form (anvil.h).
   */
  public final void matmulGelu(Tensor a, Tensor b, Tensor bias, Tensor c, Tensor pre, boolean transA,
                               boolean transB, double alpha) {
    MatmulShape s = checkMatmul("matmulGelu", a, b, bias, c, transA, transB, alpha);
    Checks.optional("matmulGelu", "pre", pre, device);
    Checks.shape("matmulGelu", "pre", pre, c.shape());
    Checks.sameDtype("matmulGelu", c, "pre", pre);
    Checks.distinct("matmulGelu", "pre", pre, a, b, bias, c);
    doMatmul(s, a, b, bias, c, pre, true, alpha, false);
  }

  private MatmulShape checkMatmul(String op, Tensor a, Tensor b, Tensor bias, Tensor c, boolean transA,
                                  boolean transB, double alpha) {
    MatmulShape s = MatmulShape.of(op, a, b, c, transA, transB);
    checkFloat(op, a, b, c);
    Checks.optional(op, "bias", bias, device);
    Checks.sameDtype(op, a, "bias", bias);
    if (bias != null) Checks.shape(op, "bias", bias, s.n());
    Checks.finite(op, "alpha", alpha);
    Checks.distinct(op, "c", c, a, b, bias);
    return s;
  }

  /**
   * Backward of {@link #matmul}: da (= or += when accumulateDa) in a's layout; db (+= when
   * accumulateDb, else =) in b's layout; dbias (+=) = column sums of dc. Any of da, db, dbias may be null.
   */
  public final void matmulBackward(Tensor a, Tensor b, Tensor dc, Tensor da, Tensor db, Tensor dbias,
                                   boolean transA, boolean transB, double alpha, boolean accumulateDa,
                                   boolean accumulateDb) {
    MatmulShape s = checkMatmulBackward("matmulBackward", a, b, dc, da, db, dbias, transA, transB, alpha);
    doMatmulBackward(s, a, b, dc, da, db, dbias, null, false, alpha, accumulateDa, accumulateDb);
  }

  /**
   * Backward of {@link #matmulGelu}: dpre = dc * gelu'(pre), then da, db, dbias from dpre exactly as
   * {@link #matmulBackward} computes them from dc. pre (required, dc's shape and dtype) is what the forward
   * stored.
   */
  public final void matmulGeluBackward(Tensor a, Tensor b, Tensor pre, Tensor dc, Tensor da, Tensor db,
                                       Tensor dbias, boolean transA, boolean transB, double alpha,
                                       boolean accumulateDa, boolean accumulateDb) {
    String op = "matmulGeluBackward";
    MatmulShape s = checkMatmulBackward(op, a, b, dc, da, db, dbias, transA, transB, alpha);
    Checks.present(op, "pre (the forward's pre-activation)", pre, device);
    Checks.shape(op, "pre", pre, dc.shape());
    Checks.sameDtype(op, dc, "pre", pre);
    Checks.distinct(op, "da", da, pre);
    Checks.distinct(op, "db", db, pre);
    Checks.distinct(op, "dbias", dbias, pre, dc);
    doMatmulBackward(s, a, b, dc, da, db, dbias, pre, true, alpha, accumulateDa, accumulateDb);
  }

  private MatmulShape checkMatmulBackward(String op, Tensor a, Tensor b, Tensor dc, Tensor da, Tensor db,
                                          Tensor dbias, boolean transA, boolean transB, double alpha) {
    MatmulShape s = MatmulShape.of(op, a, b, dc, transA, transB);
    checkFloat(op, a, b, dc);
    Checks.optional(op, "da", da, device);
    Checks.optional(op, "db", db, device);
    Checks.optional(op, "dbias", dbias, device);
    Checks.shape(op, "da", da, a.shape());
    Checks.shape(op, "db", db, b.shape());
    if (dbias != null) Checks.shape(op, "dbias", dbias, s.n());
    Checks.sameDtype(op, a, "da", da);
    Checks.dtype(op, "db", db, DType.F32);
    Checks.dtype(op, "dbias", dbias, DType.F32);
    Checks.finite(op, "alpha", alpha);
    Checks.distinct(op, "da", da, a, b, dc);
    Checks.distinct(op, "db", db, a, b, dc);
    return s;
  }

  /** c = [gelu](alpha op(a) op(b) + bias) [+ c]; gelu never with accumulate; pre only with gelu, may be null. */
  protected abstract void doMatmul(MatmulShape s, Tensor a, Tensor b, Tensor bias, Tensor c, Tensor pre,
                                   boolean gelu, double alpha, boolean accumulate);

  /** With gelu, dc is first multiplied by gelu'(pre) (pre not null). */
  protected abstract void doMatmulBackward(MatmulShape s, Tensor a, Tensor b, Tensor dc, Tensor da, Tensor db,
                                           Tensor dbias, Tensor pre, boolean gelu, double alpha,
                                           boolean accumulateDa, boolean accumulateDb);

  // ---- elementwise ------------------------------------------------------------------------------

  /**
   * out = a + b (same shapes). out may be a or b. Where this backend supports BF16, b may be BF16 while a
   * and out are F32: out = a + float(b) in one pass (a bf16 branch added into an fp32 residual stream).
   */
  public final void add(Tensor a, Tensor b, Tensor out) {
    if (b != null && a != null && b.dtype() == DType.BF16 && a.dtype() == DType.F32 && supports(DType.BF16)) {
      sameShapeFloat("add", a, null, out);
      Checks.present("add", "second argument", b, device);
      Checks.shape("add", "second argument", b, a.shape());
      Checks.distinct("add", "out", out, b);
    } else {
      sameShapeFloat("add", a, b, out);
    }
    doEltwise(Eltwise.ADD, a, b, out, 1.0);
  }

  /** out = a * b (same shapes). out may be a or b. */
  public final void mul(Tensor a, Tensor b, Tensor out) {
    sameShapeFloat("mul", a, b, out);
    doEltwise(Eltwise.MUL, a, b, out, 1.0);
  }

  /** out = alpha * a. out may be a. */
  public final void scale(Tensor a, double alpha, Tensor out) {
    sameShapeFloat("scale", a, null, out);
    Checks.finite("scale", "alpha", alpha);
    doEltwise(Eltwise.SCALE, a, null, out, alpha);
  }

  /** out += alpha * a (gradient sums, clipping). */
  public final void axpy(double alpha, Tensor a, Tensor out) {
    sameShapeFloat("axpy", a, null, out);
    Checks.finite("axpy", "alpha", alpha);
    doEltwise(Eltwise.AXPY, a, null, out, alpha);
  }

  /** Backward of add: da = dout, db = dout (+= when accumulate); either may be null. */
  public final void addBackward(Tensor dout, Tensor da, Tensor db, boolean accumulate) {
    sameShapeFloat("addBackward", dout, da, db);
    doEltwiseBackward(Eltwise.ADD, null, null, dout, da, db, 1.0, accumulate);
  }

  /** Backward of mul: da = dout * b, db = dout * a (+= when accumulate); either may be null. */
  public final void mulBackward(Tensor a, Tensor b, Tensor dout, Tensor da, Tensor db, boolean accumulate) {
    sameShapeFloat("mulBackward", a, b, dout);
    sameShapeFloat("mulBackward", a, da, db);
    Checks.distinct("mulBackward", "da", da, a, b, dout);
    Checks.distinct("mulBackward", "db", db, a, b, dout);
    doEltwiseBackward(Eltwise.MUL, a, b, dout, da, db, 1.0, accumulate);
  }

  /** Backward of scale: da = alpha * dout (+= when accumulate). */
  public final void scaleBackward(Tensor dout, double alpha, Tensor da, boolean accumulate) {
    sameShapeFloat("scaleBackward", dout, da, null);
    doEltwiseBackward(Eltwise.SCALE, null, null, dout, da, null, alpha, accumulate);
  }

  /** The ops of {@code anvil_eltwise_params}; codes match ANVIL_ADD.. in anvil.h. */
  public enum Eltwise {
    ADD,
    MUL,
    SCALE,
    AXPY
  }

  protected abstract void doEltwise(Eltwise op, Tensor a, Tensor b, Tensor out, double alpha);

  protected abstract void doEltwiseBackward(Eltwise op, Tensor a, Tensor b, Tensor dout, Tensor da, Tensor db,
                                            double alpha, boolean accumulate);

  // ---- gelu -------------------------------------------------------------------------------------

  /** y = gelu(x); tanh form (GPT-2) when tanh, else the exact erf form (BERT). */
  public final void gelu(Tensor x, Tensor y, boolean tanh) {
    sameShapeFloat("gelu", x, y, null);
    doGelu(x, y, tanh);
  }

  /** dx = dy * gelu'(x) (+= when accumulate). */
  public final void geluBackward(Tensor x, Tensor dy, Tensor dx, boolean tanh, boolean accumulate) {
    sameShapeFloat("geluBackward", x, dy, dx);
    Checks.distinct("geluBackward", "dx", dx, x);
    doGeluBackward(x, dy, dx, tanh, accumulate);
  }

  protected abstract void doGelu(Tensor x, Tensor y, boolean tanh);

  protected abstract void doGeluBackward(Tensor x, Tensor dy, Tensor dx, boolean tanh, boolean accumulate);

  // ---- layernorm --------------------------------------------------------------------------------

  /**
   * Normalizes over the last dim: x (..., C) -> y (..., C); weight, bias (C), bias nullable; mean and
   * rstd (rows) fp32, both null or both given (needed for backward).
   */
  public final void layerNorm(Tensor x, Tensor weight, Tensor bias, Tensor y, Tensor mean, Tensor rstd,
                              double eps) {
    String op = "layerNorm";
    sameShapeFloat(op, x, lowered(x, y) ? null : y, null);
    if (lowered(x, y)) Checks.shape(op, "y", y, x.shape());
    long cols = lastDim(op, x);
    param(op, "weight", weight, cols, x);
    if (bias != null) param(op, "bias", bias, cols, x);
    if ((mean == null) != (rstd == null)) throw new IllegalArgumentException(op + ": give both mean and rstd, or neither");
    stats(op, mean, rstd, x.shape().rows());
    if (!(eps > 0)) throw new IllegalArgumentException(op + ": eps must be > 0, got " + eps);
    Checks.distinct(op, "y", y, x, weight, bias);
    doLayerNorm(x, weight, bias, y, mean, rstd, eps);
  }

  /** dx (=); dweight (+=); dbias (+=, nullable). */
  public final void layerNormBackward(Tensor x, Tensor weight, Tensor mean, Tensor rstd, Tensor dy, Tensor dx,
                                      Tensor dweight, Tensor dbias) {
    layerNormBackward(x, weight, mean, rstd, dy, dx, dweight, dbias, false, false);
  }

  /**
   * dx (= or += when accumulateDx); dweight, dbias (+=, or = when overwriteParams; dbias nullable). dy
   * may be BF16 with x F32 where this backend supports BF16 (the gradient of a bf16 layerNorm output).
   */
  public final void layerNormBackward(Tensor x, Tensor weight, Tensor mean, Tensor rstd, Tensor dy, Tensor dx,
                                      Tensor dweight, Tensor dbias, boolean accumulateDx, boolean overwriteParams) {
    String op = "layerNormBackward";
    sameShapeFloat(op, x, lowered(x, dy) ? null : dy, dx);
    if (lowered(x, dy)) Checks.shape(op, "dy", dy, x.shape());
    long cols = lastDim(op, x);
    param(op, "weight", weight, cols, x);
    param(op, "dweight", dweight, cols, null);
    Checks.dtype(op, "dweight", dweight, DType.F32);
    if (dbias != null) param(op, "dbias", dbias, cols, null);
    Checks.dtype(op, "dbias", dbias, DType.F32);
    if (mean == null || rstd == null) throw new IllegalArgumentException(op + ": mean and rstd are required");
    stats(op, mean, rstd, x.shape().rows());
    Checks.distinct(op, "dx", dx, x, dy, weight);
    doLayerNormBackward(x, weight, mean, rstd, dy, dx, dweight, dbias, accumulateDx, overwriteParams);
  }

  // A BF16 y (or dy) beside an F32 x, on a backend with BF16: a layerNorm output that feeds a bf16 linear.
  private boolean lowered(Tensor x, Tensor y) {
    if (x == null || y == null || x.dtype() != DType.F32 || y.dtype() != DType.BF16 || !supports(DType.BF16)) return false;
    Checks.present("layerNorm", "bf16 output", y, device);
    return true;
  }

  protected abstract void doLayerNorm(Tensor x, Tensor weight, Tensor bias, Tensor y, Tensor mean, Tensor rstd,
                                      double eps);

  protected abstract void doLayerNormBackward(Tensor x, Tensor weight, Tensor mean, Tensor rstd, Tensor dy,
                                              Tensor dx, Tensor dweight, Tensor dbias, boolean accumulateDx,
                                              boolean overwriteParams);

  // ---- softmax ----------------------------------------------------------------------------------

  /** y = softmax(scale * x) over the last dim. */
  public final void softmax(Tensor x, Tensor y, double scale) {
    sameShapeFloat("softmax", x, y, null);
    lastDim("softmax", x);
    Checks.finite("softmax", "scale", scale);
    doSoftmax(x, y, scale);
  }

  /** dx (=) = scale * y * (dy - sum(dy * y)). */
  public final void softmaxBackward(Tensor y, Tensor dy, Tensor dx, double scale) {
    sameShapeFloat("softmaxBackward", y, dy, dx);
    lastDim("softmaxBackward", y);
    Checks.finite("softmaxBackward", "scale", scale);
    Checks.distinct("softmaxBackward", "dx", dx, y);
    doSoftmaxBackward(y, dy, dx, scale);
  }

  protected abstract void doSoftmax(Tensor x, Tensor y, double scale);

  protected abstract void doSoftmaxBackward(Tensor y, Tensor dy, Tensor dx, double scale);

  // ---- attention --------------------------------------------------------------------------------

  /**
   * Multi-head scaled dot-product attention (see {@link AttentionSpec} for the layout). q (B,Tq,Wq),
   * k (B,Tk,Wk), v (B,Tk,Wv); keyMask I32 (B,Tk) or null; out (B,Tq,H*D) written; lse F32 (B,H,Tq)
   * written, or null when no backward follows.
   */
  public final void attention(AttentionSpec spec, Tensor q, Tensor k, Tensor v, Tensor keyMask, Tensor out,
                              Tensor lse) {
    AttentionShape s = AttentionShape.of("attention", spec, q, k, v, keyMask, out, lse, device);
    checkFloat("attention", q, k, v);
    Checks.sameDtype("attention", q, "out", out);
    Checks.distinct("attention", "out", out, q, k, v);
    doAttention(s, q, k, v, keyMask, out, lse);
  }

  /**
   * dq, dk, dv written (=), shaped like q, k, v; when q, k, v are blocks of one packed tensor, dq, dk, dv
   * may be one packed gradient tensor too.
   */
  public final void attentionBackward(AttentionSpec spec, Tensor q, Tensor k, Tensor v, Tensor keyMask,
                                      Tensor out, Tensor lse, Tensor dout, Tensor dq, Tensor dk, Tensor dv) {
    String op = "attentionBackward";
    AttentionShape s = AttentionShape.of(op, spec, q, k, v, keyMask, out, lse, device);
    if (lse == null) throw new IllegalArgumentException(op + ": lse from the forward pass is required");
    checkFloat(op, q, k, v);
    Checks.present(op, "dout", dout, device);
    Checks.shape(op, "dout", dout, out.shape());
    Checks.present(op, "dq", dq, device);
    Checks.present(op, "dk", dk, device);
    Checks.present(op, "dv", dv, device);
    Checks.shape(op, "dq", dq, q.shape());
    Checks.shape(op, "dk", dk, k.shape());
    Checks.shape(op, "dv", dv, v.shape());
    for (Tensor g : new Tensor[] {dout, dq, dk, dv}) Checks.sameDtype(op, q, "gradient", g);
    Checks.distinct(op, "dq", dq, q, k, v, out, dout);
    Checks.distinct(op, "dk", dk, q, k, v, out, dout);
    Checks.distinct(op, "dv", dv, q, k, v, out, dout);
    doAttentionBackward(s, q, k, v, keyMask, out, lse, dout, dq, dk, dv);
  }

  protected abstract void doAttention(AttentionShape s, Tensor q, Tensor k, Tensor v, Tensor keyMask, Tensor out,
                                      Tensor lse);

  protected abstract void doAttentionBackward(AttentionShape s, Tensor q, Tensor k, Tensor v, Tensor keyMask,
                                              Tensor out, Tensor lse, Tensor dout, Tensor dq, Tensor dk,
                                              Tensor dv);

  // ---- decoding with the cache lengths in device memory ------------------------------------------

  /**
   * Attention of one query per batch row against a KV cache whose filled length per row lives on the
   * device, so a captured decode step serves every position. q (B, 1, Wq) with spec's columns; k, v
   * (B, capacity, Wk/Wv) the whole cache; lengths I32 (B): row b sees keys [0, min(capacity,
   * lengths[b] + lengthsAdd)) only, lengthsAdd in [-1, 1]; out (B, 1, H*D) written (zeros for a row that
   * sees no key). One query sees every key it is given, so spec's causal flag changes nothing.
   * Optional: this default reads lengths to the host and runs {@link #attention} per row (free on the
   * CPU; a synchronizing read elsewhere); CUDA overrides it with kernels that read them on the device.
   */
  public final void attentionDecode(AttentionSpec spec, Tensor q, Tensor k, Tensor v, Tensor lengths, int lengthsAdd,
                                    Tensor out) {
    String op = "attentionDecode";
    AttentionShape s = AttentionShape.of(op, spec, q, k, v, null, out, null, device);
    checkFloat(op, q, k, v);
    Checks.sameDtype(op, q, "out", out);
    Checks.distinct(op, "out", out, q, k, v);
    if (s.qLen() != 1) throw new IllegalArgumentException(op + ": one query per row, got q " + q.shape());
    decodeLengths(op, lengths, s.batch());
    if (lengthsAdd < -1 || lengthsAdd > 1) throw new IllegalArgumentException(op + ": lengthsAdd " + lengthsAdd + " outside [-1, 1]");
    doAttentionDecode(s, q, k, v, lengths, lengthsAdd, out);
  }

  protected void doAttentionDecode(AttentionShape s, Tensor q, Tensor k, Tensor v, Tensor lengths, int lengthsAdd,
                                   Tensor out) {
    int[] lens = lengths.toIntArray();
    long cap = s.kLen();
    try (ai.anvil.tensor.Scope views = ai.anvil.tensor.Scope.open()) {
      for (int b = 0; b < lens.length; b++) {
        long n = Math.max(0, Math.min(cap, (long) lens[b] + lengthsAdd));
        Tensor o = out.slice(b, b + 1);
        if (n == 0) {
          fill(o, 0.0);
          continue;
        }
        Tensor kb = k.slice(b, b + 1).reshape(cap, s.kWidth()).slice(0, n).reshape(1, n, s.kWidth());
        Tensor vb = v.slice(b, b + 1).reshape(cap, s.vWidth()).slice(0, n).reshape(1, n, s.vWidth());
        attention(s.spec(), q.slice(b, b + 1), kb, vb, null, o, null);
      }
    }
  }

  /**
   * Writes T new key and value rows of every batch row into a layer's cache at the positions held on the
   * device: kCache[b, lengths[b] + t, :] = columns [kColumn, kColumn + W) of kSrc[b, t, :], vCache likewise
   * from vSrc (W = the caches' width; kSrc and vSrc may be one packed qkv (B, T, 3C)). kSrc, vSrc
   * (B, T, Wsrc) of one shape; kCache, vCache (B, capacity, W) of the sources' dtype; lengths I32 (B),
   * not changed (see {@link #kvAdvance}). A position outside [0, capacity) is refused (on CUDA by the
   * next synchronizing call). Optional: the default reads lengths and copies row by row.
   */
  public final void kvAppend(Tensor kSrc, int kColumn, Tensor vSrc, int vColumn, Tensor kCache, Tensor vCache,
                             Tensor lengths) {
    String op = "kvAppend";
    for (Tensor t : new Tensor[] {kSrc, vSrc, kCache, vCache}) {
      Checks.present(op, "tensor", t, device);
      Checks.rank(op, "tensor", t, 3);
    }
    checkFloat(op, kSrc, vSrc, kCache);
    Checks.sameDtype(op, kSrc, "vSrc", vSrc);
    Checks.sameDtype(op, kSrc, "kCache", kCache);
    Checks.sameDtype(op, kSrc, "vCache", vCache);
    Checks.shape(op, "vSrc", vSrc, kSrc.shape());
    Checks.shape(op, "vCache", vCache, kCache.shape());
    long b = kSrc.dim(0), w = kCache.dim(2);
    if (kCache.dim(0) != b) throw new IllegalArgumentException(op + ": cache " + kCache.shape() + " for sources " + kSrc.shape());
    if (kSrc.dim(1) > kCache.dim(1)) {
      throw new IllegalArgumentException(op + ": " + kSrc.dim(1) + " new rows exceed the capacity " + kCache.dim(1));
    }
    for (int c : new int[] {kColumn, vColumn}) {
      if (c < 0 || c + w > kSrc.dim(2)) {
        throw new IllegalArgumentException(op + ": columns [" + c + ", " + (c + w) + ") outside the sources' width " + kSrc.dim(2));
      }
    }
    Checks.distinct(op, "kCache", kCache, kSrc, vSrc, vCache);
    decodeLengths(op, lengths, b);
    doKvAppend(kSrc, kColumn, vSrc, vColumn, kCache, vCache, lengths);
  }

  protected void doKvAppend(Tensor kSrc, int kColumn, Tensor vSrc, int vColumn, Tensor kCache, Tensor vCache,
                            Tensor lengths) {
    int[] lens = lengths.toIntArray();
    long t = kSrc.dim(1), ws = kSrc.dim(2), cap = kCache.dim(1), w = kCache.dim(2);
    for (int b = 0; b < lens.length; b++) {
      if (lens[b] < 0 || lens[b] + t > cap) {
        throw new IllegalArgumentException("kvAppend: row " + b + " writes positions [" + lens[b] + ", " + (lens[b] + t)
            + ") of a cache of capacity " + cap);
      }
    }
    try (ai.anvil.tensor.Scope views = ai.anvil.tensor.Scope.open()) {
      Tensor kFlat = kSrc.reshape(-1), vFlat = vSrc.reshape(-1);
      Tensor kRows = kCache.reshape(-1), vRows = vCache.reshape(-1);
      for (int b = 0; b < lens.length; b++) {
        for (long i = 0; i < t; i++) {
          long src = (b * t + i) * ws, dst = (b * cap + lens[b] + i) * w;
          copy(kFlat.slice(src + kColumn, src + kColumn + w), kRows.slice(dst, dst + w));
          copy(vFlat.slice(src + vColumn, src + vColumn + w), vRows.slice(dst, dst + w));
        }
      }
    }
  }

  /** lengths[b] += n for every row (I32 (B) on this device): the end of a decode step of n tokens per row. */
  public final void kvAdvance(Tensor lengths, int n) {
    Checks.present("kvAdvance", "lengths", lengths, device);
    decodeLengths("kvAdvance", lengths, lengths.numel());
    doKvAdvance(lengths, n);
  }

  /** Optional: the default reads and rewrites lengths through the host. */
  protected void doKvAdvance(Tensor lengths, int n) {
    int[] lens = lengths.toIntArray();
    for (int i = 0; i < lens.length; i++) lens[i] = Math.addExact(lens[i], n);
    java.nio.ByteBuffer buf = java.nio.ByteBuffer.allocateDirect(4 * lens.length).order(java.nio.ByteOrder.nativeOrder());
    buf.asIntBuffer().put(lens);
    copyFromHost(lengths, buf);
  }

  private void decodeLengths(String op, Tensor lengths, long batch) {
    Checks.present(op, "lengths", lengths, device);
    Checks.dtype(op, "lengths", lengths, DType.I32);
    Checks.shape(op, "lengths", lengths, batch);
  }

  // ---- embedding --------------------------------------------------------------------------------

  /** out (..., D) = table[ids] for ids I32 (...), table (V, D). Out-of-range ids raise AnvilException. */
  public final void embedding(Tensor ids, Tensor table, Tensor out) {
    String op = "embedding";
    Checks.present(op, "ids", ids, device);
    Checks.dtype(op, "ids", ids, DType.I32);
    Checks.present(op, "table", table, device);
    Checks.rank(op, "table", table, 2);
    checkFloat(op, table, null, null);
    Checks.present(op, "out", out, device);
    Checks.sameDtype(op, table, "out", out);
    Checks.numel(op, "out", out, ids.numel() * table.dim(1));
    if (out.rank() == 0 || out.dim(-1) != table.dim(1)) {
      throw new IllegalArgumentException(op + ": out " + out.shape() + " must end in the table width " + table.dim(1));
    }
    doEmbedding(ids, table, out);
  }

  /** dtable[ids[i]] += dout[i] (scatter-add). */
  public final void embeddingBackward(Tensor ids, Tensor dout, Tensor dtable) {
    String op = "embeddingBackward";
    Checks.present(op, "ids", ids, device);
    Checks.dtype(op, "ids", ids, DType.I32);
    Checks.present(op, "dtable", dtable, device);
    Checks.rank(op, "dtable", dtable, 2);
    Checks.dtype(op, "dtable", dtable, DType.F32);
    Checks.present(op, "dout", dout, device);
    checkFloat(op, dout, null, null);
    Checks.numel(op, "dout", dout, ids.numel() * dtable.dim(1));
    doEmbeddingBackward(ids, dout, dtable);
  }

  protected abstract void doEmbedding(Tensor ids, Tensor table, Tensor out);

  protected abstract void doEmbeddingBackward(Tensor ids, Tensor dout, Tensor dtable);

  // ---- cross-entropy ----------------------------------------------------------------------------

  /**
   * Fused log-softmax + NLL. logits (..., Vpad) whose first vocab columns are real; targets I32 (...);
   * losses F32 (rows) or null; loss F32 (1) = sum(losses) / normalizer. Targets equal to ignoreIndex
   * give no loss; other targets outside [0, vocab) raise AnvilException.
   */
  public final void crossEntropy(Tensor logits, Tensor targets, int vocab, int ignoreIndex, double normalizer,
                                 Tensor losses, Tensor loss) {
    String op = "crossEntropy";
    long rows = ceShapes(op, logits, targets, vocab, normalizer);
    Checks.optional(op, "losses", losses, device);
    Checks.dtype(op, "losses", losses, DType.F32);
    Checks.numel(op, "losses", losses, rows);
    Checks.present(op, "loss", loss, device);
    Checks.dtype(op, "loss", loss, DType.F32);
    Checks.numel(op, "loss", loss, 1);
    doCrossEntropy(logits, targets, vocab, ignoreIndex, normalizer, losses, loss);
  }

  /** dlogits (=) = (softmax - onehot) * grad / normalizer; zero on ignored rows and padding. */
  public final void crossEntropyBackward(Tensor logits, Tensor targets, int vocab, int ignoreIndex,
                                         double normalizer, double grad, Tensor dlogits) {
    String op = "crossEntropyBackward";
    ceShapes(op, logits, targets, vocab, normalizer);
    Checks.finite(op, "grad", grad);
    Checks.present(op, "dlogits", dlogits, device);
    Checks.shape(op, "dlogits", dlogits, logits.shape());
    Checks.sameDtype(op, logits, "dlogits", dlogits);
    Checks.distinct(op, "dlogits", dlogits, logits);
    doCrossEntropyBackward(logits, targets, vocab, ignoreIndex, normalizer, grad, dlogits);
  }

  private long ceShapes(String op, Tensor logits, Tensor targets, int vocab, double normalizer) {
    Checks.present(op, "logits", logits, device);
    checkFloat(op, logits, null, null);
    Checks.present(op, "targets", targets, device);
    Checks.dtype(op, "targets", targets, DType.I32);
    long width = lastDim(op, logits);
    long rows = logits.shape().rows();
    Checks.numel(op, "targets", targets, rows);
    if (vocab <= 0 || vocab > width) {
      throw new IllegalArgumentException(op + ": vocab " + vocab + " must be in [1, " + width + "] for logits "
          + logits.shape());
    }
    if (!(normalizer > 0) || !Double.isFinite(normalizer)) {
      throw new IllegalArgumentException(op + ": normalizer must be > 0 (the token count), got " + normalizer);
    }
    return rows;
  }

  protected abstract void doCrossEntropy(Tensor logits, Tensor targets, int vocab, int ignoreIndex,
                                         double normalizer, Tensor losses, Tensor loss);

  protected abstract void doCrossEntropyBackward(Tensor logits, Tensor targets, int vocab, int ignoreIndex,
                                                 double normalizer, double grad, Tensor dlogits);

  // ---- optimizer --------------------------------------------------------------------------------

  /**
   * One in-place AdamW update of every listed parameter (fp32), with its fp32 gradient and moments m,
   * v of the same shape; decay[i] says whether weight decay applies to tensor i. Frozen parameters
   * are simply not listed.
   */
  public final void adamw(List<Tensor> params, List<Tensor> grads, List<Tensor> m, List<Tensor> v,
                          boolean[] decay, AdamWStep step) {
    String op = "adamw";
    int n = params.size();
    if (grads.size() != n || m.size() != n || v.size() != n || decay.length != n) {
      throw new IllegalArgumentException(op + ": params, grads, m, v and decay must have equal lengths, got "
          + n + ", " + grads.size() + ", " + m.size() + ", " + v.size() + ", " + decay.length);
    }
    if (step == null) throw new IllegalArgumentException(op + ": step must not be null");
    for (int i = 0; i < n; i++) {
      Tensor p = params.get(i);
      Checks.present(op, "params[" + i + "]", p, device);
      Checks.dtype(op, "params[" + i + "]", p, DType.F32);
      for (Tensor t : new Tensor[] {grads.get(i), m.get(i), v.get(i)}) {
        Checks.present(op, "state of params[" + i + "]", t, device);
        Checks.dtype(op, "state of params[" + i + "]", t, DType.F32);
        Checks.shape(op, "state of params[" + i + "]", t, p.shape());
      }
    }
    if (n > 0) doAdamw(params, grads, m, v, decay, step);
  }

  /** sqrt(sum of squares) over all listed fp32 tensors, accumulated in fp64. Synchronizes. */
  public final double gradNorm(List<Tensor> grads) {
    for (int i = 0; i < grads.size(); i++) {
      Checks.present("gradNorm", "grads[" + i + "]", grads.get(i), device);
      Checks.dtype("gradNorm", "grads[" + i + "]", grads.get(i), DType.F32);
    }
    return grads.isEmpty() ? 0.0 : doGradNorm(grads);
  }

  protected abstract void doAdamw(List<Tensor> params, List<Tensor> grads, List<Tensor> m, List<Tensor> v,
                                  boolean[] decay, AdamWStep step);

  protected abstract double doGradNorm(List<Tensor> grads);

  // ---- shared checks ----------------------------------------------------------------------------

  private void checkFloat(String op, Tensor a, Tensor b, Tensor c) {
    for (Tensor t : new Tensor[] {a, b, c}) {
      if (t == null) continue;
      if (t.dtype() == DType.I32 || !supports(t.dtype())) {
        throw new IllegalArgumentException(op + ": " + t.dtype() + " tensors are not supported on " + device
            + " (got " + t.shape() + ")");
      }
    }
    if (b != null) Checks.sameDtype(op, a, "second input", b);
    if (c != null) Checks.sameDtype(op, a, "output", c);
  }

  /** a, b, c present on this device, float, same shape and dtype (b, c nullable). */
  private void sameShapeFloat(String op, Tensor a, Tensor b, Tensor c) {
    Checks.present(op, "first argument", a, device);
    Checks.optional(op, "second argument", b, device);
    Checks.optional(op, "third argument", c, device);
    checkFloat(op, a, b, c);
    Checks.shape(op, "second argument", b, a.shape());
    Checks.shape(op, "third argument", c, a.shape());
  }

  private static long lastDim(String op, Tensor x) {
    if (x.rank() == 0 || x.dim(-1) == 0) {
      throw new IllegalArgumentException(op + ": needs a non-empty last dimension, got " + x.shape());
    }
    return x.dim(-1);
  }

  private void param(String op, String name, Tensor t, long cols, Tensor like) {
    Checks.present(op, name, t, device);
    Checks.shape(op, name, t, cols);
    if (like != null) Checks.sameDtype(op, like, name, t);
  }

  private void stats(String op, Tensor mean, Tensor rstd, long rows) {
    if (mean == null) return;
    Checks.present(op, "mean", mean, device);
    Checks.present(op, "rstd", rstd, device);
    Checks.dtype(op, "mean", mean, DType.F32);
    Checks.dtype(op, "rstd", rstd, DType.F32);
    Checks.numel(op, "mean", mean, rows);
    Checks.numel(op, "rstd", rstd, rows);
  }

  // ---- Llama-family ops: rmsNorm, rope, swiglu, repeatKv -----------------------------------------
  // Grouped-query attention is repeatKv followed by attention: the attention params have no kv-heads
  // field, and a copy of k and v costs little next to attention itself.

  /**
   * RMS normalization over the last dim: x (..., C) -> y (..., C) = x * rstd * weight; weight (C);
   * rstd F32 (rows) written, or null when no backward follows.
   */
  public final void rmsNorm(Tensor x, Tensor weight, Tensor y, Tensor rstd, double eps) {
    String op = "rmsNorm";
    sameShapeFloat(op, x, y, null);
    long cols = lastDim(op, x);
    param(op, "weight", weight, cols, x);
    if (rstd != null) {
      Checks.present(op, "rstd", rstd, device);
      Checks.dtype(op, "rstd", rstd, DType.F32);
      Checks.numel(op, "rstd", rstd, x.shape().rows());
    }
    if (!(eps > 0) || !Double.isFinite(eps)) throw new IllegalArgumentException(op + ": eps must be > 0, got " + eps);
    Checks.distinct(op, "y", y, x, weight);
    Checks.distinct(op, "rstd", rstd, x, weight, y);
    doRmsNorm(x, weight, y, rstd, eps);
  }

  /** dx (=) and dweight F32 (+=), either null when not wanted. rstd from the forward; eps as there. */
  public final void rmsNormBackward(Tensor x, Tensor weight, Tensor rstd, Tensor dy, Tensor dx, Tensor dweight,
                                    double eps) {
    String op = "rmsNormBackward";
    sameShapeFloat(op, x, dy, dx);
    long cols = lastDim(op, x);
    param(op, "weight", weight, cols, x);
    if (dweight != null) param(op, "dweight", dweight, cols, null);
    Checks.dtype(op, "dweight", dweight, DType.F32);
    if (rstd == null) throw new IllegalArgumentException(op + ": rstd from the forward pass is required");
    Checks.present(op, "rstd", rstd, device);
    Checks.dtype(op, "rstd", rstd, DType.F32);
    Checks.numel(op, "rstd", rstd, x.shape().rows());
    if (!(eps > 0) || !Double.isFinite(eps)) throw new IllegalArgumentException(op + ": eps must be > 0, got " + eps);
    Checks.distinct(op, "dx", dx, x, dy, weight, dweight);
    Checks.distinct(op, "dweight", dweight, x, dy, weight);
    doRmsNormBackward(x, weight, rstd, dy, dx, dweight, eps);
  }

  protected abstract void doRmsNorm(Tensor x, Tensor weight, Tensor y, Tensor rstd, double eps);

  protected abstract void doRmsNormBackward(Tensor x, Tensor weight, Tensor rstd, Tensor dy, Tensor dx,
                                            Tensor dweight, double eps);

  /**
   * Rotary position embedding, Hugging Face's rotate_half convention: x (B, T, heads*headDim) -> out
   * (same shape), token t at position posOffset + t, frequencies theta^(-2j/headDim). out may be x
   * itself (in place) but must not otherwise overlap it. headDim is even.
   */
  public final void rope(Tensor x, Tensor out, int heads, int headDim, long posOffset, double theta) {
    ropeChecks("rope", x, out, heads, headDim, posOffset, theta);
    doRope(x, out, heads, headDim, posOffset, theta, false);
  }

  /** The inverse rotation: dx (=) from dout, shapes as in {@link #rope}; dx may be dout itself. */
  public final void ropeBackward(Tensor dout, Tensor dx, int heads, int headDim, long posOffset, double theta) {
    ropeChecks("ropeBackward", dout, dx, heads, headDim, posOffset, theta);
    doRope(dout, dx, heads, headDim, posOffset, theta, true);
  }

  private void ropeChecks(String op, Tensor x, Tensor out, int heads, int headDim, long posOffset, double theta) {
    sameShapeFloat(op, x, out, null);
    Checks.rank(op, "x", x, 3);
    if (heads < 1 || headDim < 2 || headDim % 2 != 0) {
      throw new IllegalArgumentException(op + ": needs heads >= 1 and an even headDim >= 2, got " + heads + ", "
          + headDim);
    }
    if (x.dim(2) != (long) heads * headDim) {
      throw new IllegalArgumentException(op + ": x " + x.shape() + " must be (B, T, " + heads + " * " + headDim + ")");
    }
    if (posOffset < 0) throw new IllegalArgumentException(op + ": posOffset must be >= 0, got " + posOffset);
    if (!(theta > 0) || !Double.isFinite(theta)) {
      throw new IllegalArgumentException(op + ": theta must be finite and > 0, got " + theta);
    }
    if (out.address() != x.address()) Checks.distinct(op, "out", out, x);
  }

  /** inverse: rotate by -angle (the backward). */
  protected abstract void doRope(Tensor x, Tensor out, int heads, int headDim, long posOffset, double theta,
                                 boolean inverse);

  /** out = silu(a) * b (same shapes): the gated product of Llama's MLP. */
  public final void swiglu(Tensor a, Tensor b, Tensor out) {
    sameShapeFloat("swiglu", a, b, out);
    Checks.distinct("swiglu", "out", out, a, b);
    doSwiglu(a, b, out);
  }

  /** da = dout * b * silu'(a), db = dout * silu(a) (+= when accumulate); either may be null. */
  public final void swigluBackward(Tensor a, Tensor b, Tensor dout, Tensor da, Tensor db, boolean accumulate) {
    String op = "swigluBackward";
    sameShapeFloat(op, a, b, dout);
    sameShapeFloat(op, a, da, db);
    Checks.distinct(op, "da", da, a, b, dout, db);
    Checks.distinct(op, "db", db, a, b, dout);
    doSwigluBackward(a, b, dout, da, db, accumulate);
  }

  protected abstract void doSwiglu(Tensor a, Tensor b, Tensor out);

  protected abstract void doSwigluBackward(Tensor a, Tensor b, Tensor dout, Tensor da, Tensor db, boolean accumulate);

  /**
   * Grouped-query head sharing: x (..., kvHeads*headDim) -> out (..., kvHeads*groups*headDim), out head
   * h = x head h / groups (Hugging Face's repeat_kv).
   */
  public final void repeatKv(Tensor x, Tensor out, int kvHeads, int groups, int headDim) {
    repeatKvChecks("repeatKv", x, out, kvHeads, groups, headDim);
    Checks.distinct("repeatKv", "out", out, x);
    doRepeatKv(x, out, kvHeads, groups, headDim);
  }

  /** dx (..., kvHeads*headDim) = sums over each group of dout's heads; written, or += when accumulate. */
  public final void repeatKvBackward(Tensor dout, Tensor dx, int kvHeads, int groups, int headDim,
                                     boolean accumulate) {
    repeatKvChecks("repeatKvBackward", dx, dout, kvHeads, groups, headDim);
    Checks.distinct("repeatKvBackward", "dx", dx, dout);
    doRepeatKvBackward(dout, dx, kvHeads, groups, headDim, accumulate);
  }

  private void repeatKvChecks(String op, Tensor narrow, Tensor wide, int kvHeads, int groups, int headDim) {
    Checks.present(op, "kv-width tensor", narrow, device);
    Checks.present(op, "head-width tensor", wide, device);
    checkFloat(op, narrow, wide, null);
    if (kvHeads < 1 || groups < 1 || headDim < 1) {
      throw new IllegalArgumentException(op + ": kvHeads, groups and headDim must be >= 1, got " + kvHeads + ", "
          + groups + ", " + headDim);
    }
    long in = (long) kvHeads * headDim;
    if (narrow.rank() == 0 || narrow.dim(-1) != in) {
      throw new IllegalArgumentException(op + ": " + narrow.shape() + " must end in kvHeads * headDim = " + in);
    }
    long[] dims = narrow.dims();
    dims[dims.length - 1] = in * groups;
    Checks.shape(op, "head-width tensor", wide, dims);
  }

  protected abstract void doRepeatKv(Tensor x, Tensor out, int kvHeads, int groups, int headDim);

  protected abstract void doRepeatKvBackward(Tensor dout, Tensor dx, int kvHeads, int groups, int headDim,
                                             boolean accumulate);
}
