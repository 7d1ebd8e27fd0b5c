package ai.anvil.autograd;

import ai.anvil.autograd.Tape.Slot;
import ai.anvil.backend.AttentionSpec;
import ai.anvil.backend.Backend;
import ai.anvil.backend.cuda.CudaBackend;
import ai.anvil.tensor.DType;
import ai.anvil.tensor.Tensor;

/**
 * The differentiable ops: each allocates its output in the current scope, runs the backend's forward
 * kernel, and (when a tape records and an input needs grad) records a rule that calls the matching
 * backward kernel. Forward and backward of each op sit side by side.
 */
public final class Ops {
  private Ops() {}

  private static Backend backend(Tensor t) {
    return Backend.of(t.device());
  }

  // ---- linear / matmul ----------------------------------------------------------------------------

  /**
   * x (..., in) @ weight^T + bias -> (..., out); weight (out, in) as in PyTorch; bias (out) or null.
   * Inside a bf16 {@link Autocast} for x's device: x is cast to bf16 (recorded), the product takes bf16
   * copies of weight and bias and returns bf16; the weight and bias gradients stay fp32 (+=).
   */
  public static Tensor linear(Tensor x, Tensor weight, Tensor bias) {
    return linear("linear", x, weight, bias, false);
  }

  /**
   * gelu(x (..., in) @ weight^T + bias) -> (..., out) with GPT-2's tanh GELU applied in the product's
   * epilogue ({@link Backend#matmulGelu}) instead of by a second pass over the output: the op
   * {@code gelu(linear(x, weight, bias), true)}, with the same Autocast rule as {@link #linear}. On the CPU
   * its values and gradients are bit-identical to that composition (the same kernels on the same floats).
   * When a tape records, the pre-activation x W^T + b (..., out) is kept for the backward, which computes
   * dpre = dy * gelu'(pre) and from it the gradients of the linear ({@link Backend#matmulGeluBackward}).
   */
  public static Tensor linearGelu(Tensor x, Tensor weight, Tensor bias) {
    return linear("linearGelu", x, weight, bias, true);
  }

  private static Tensor linear(String op, Tensor x, Tensor weight, Tensor bias, boolean gelu) {
    if (x.rank() < 1 || weight.rank() != 2 || x.dim(-1) != weight.dim(1)) {
      throw new IllegalArgumentException(op + ": input " + x.shape() + " does not match weight " + weight.shape()
          + " (expected (..., " + (weight.rank() == 2 ? weight.dim(1) : "in") + "))");
    }
    Autocast ac = Autocast.active(x.device());
    if (ac != null) x = cast(x, DType.BF16);
    Tensor wc = ac == null ? weight : ac.lowered(weight), bc = ac == null ? bias : ac.lowered(bias);
    long in = weight.dim(1), out = weight.dim(0);
    long rows = x.numel() / in;
    long[] outDims = x.dims();
    outDims[outDims.length - 1] = out;
    Tensor x2 = x.reshape(rows, in);
    Tensor y = Tensor.empty(x.dtype(), x.device(), outDims);
    Tensor y2 = y.reshape(rows, out);
    // (rows, out) pre-activation, only when the backward will need it
    Tensor pre = gelu && Tape.records(x, weight, bias) ? Tensor.empty(x.dtype(), x.device(), rows, out) : null;
    if (gelu) backend(x).matmulGelu(x2, wc, bc, y2, pre, false, true, 1.0);
    else backend(x).matmul(x2, wc, bc, y2, false, true, 1.0, false);
    Tensor xin = x;
    Tape.maybeRecord(y, (dy, grads) -> {
      Slot dx = grads.slot(xin), dw = grads.slot(weight), db = grads.slot(bias);
      if (dw != null && !dw.accumulate()) throw new IllegalStateException(op + ": weight gradient must accumulate");
      Tensor dy2 = dy.reshape(rows, out);
      Tensor dx2 = dx == null ? null : dx.buffer().reshape(rows, in);
      Tensor dbias = db == null ? null : db.buffer();
      if (db != null && !db.accumulate()) backend(xin).fill(dbias, 0.0);
      Tensor dwBuffer = dw == null ? null : dw.buffer();
      boolean accDx = dx != null && dx.accumulate();
      if (gelu) {
        backend(xin).matmulGeluBackward(x2, wc, pre, dy2, dx2, dwBuffer, dbias, false, true, 1.0, accDx, true);
      } else {
        backend(xin).matmulBackward(x2, wc, dy2, dx2, dwBuffer, dbias, false, true, 1.0, accDx, true);
      }
    }, xin, weight, bias);
    return y;
  }

  /**
   * c = op(a) @ op(b), batched when either is 3-D (see Backend.matmul). Mixed F32 and BF16 promote to F32
   * (Autocast lowers only linear and attention; a bf16 linear output may meet an fp32 tensor here).
   */
  public static Tensor matmul(Tensor a, Tensor b, boolean transA, boolean transB) {
    if (mixedFloat(a, b)) return matmulSame(cast(a, DType.F32), cast(b, DType.F32), transA, transB);
    return matmulSame(a, b, transA, transB);
  }

  private static boolean mixedFloat(Tensor a, Tensor b) {
    return a.dtype() != b.dtype() && a.dtype() != DType.I32 && b.dtype() != DType.I32;
  }

  private static Tensor matmulSame(Tensor a, Tensor b, boolean transA, boolean transB) {
    long m = transA ? a.dim(-1) : a.dim(-2);
    long n = transB ? b.dim(-2) : b.dim(-1);
    boolean batched = a.rank() == 3 || b.rank() == 3;
    long batch = a.rank() == 3 ? a.dim(0) : (b.rank() == 3 ? b.dim(0) : 1);
    Tensor c = batched ? Tensor.empty(a.dtype(), a.device(), batch, m, n) : Tensor.empty(a.dtype(), a.device(), m, n);
    backend(a).matmul(a, b, null, c, transA, transB, 1.0, false);
    Tape.maybeRecord(c, (dc, grads) -> {
      Slot da = grads.slot(a), db = grads.slot(b);
      backend(a).matmulBackward(a, b, dc, da == null ? null : da.buffer(), db == null ? null : db.buffer(), null,
          transA, transB, 1.0, da != null && da.accumulate(), db != null && db.accumulate());
    }, a, b);
    return c;
  }

  // ---- elementwise --------------------------------------------------------------------------------

  /**
   * a + b, same shapes. Mixed F32 and BF16 give F32: on a backend with bf16 kernels the bf16 side is read
   * as is by the add (a bf16 branch into the fp32 residual stream, one pass), elsewhere it is cast first.
   * The backward hands the output's gradient on to an input instead of copying it where it can
   * ({@link Tape.Grads#pass}).
   */
  public static Tensor add(Tensor a, Tensor b) {
    if (mixedFloat(a, b)) {
      Tensor wide = a.dtype() == DType.F32 ? a : b, narrow = wide == a ? b : a;
      if (backend(wide).supports(DType.BF16)) return addWidened(wide, narrow);
      return addSame(cast(a, DType.F32), cast(b, DType.F32));
    }
    return addSame(a, b);
  }

  // wide (F32) + narrow (BF16) -> F32 in one kernel; float addition commutes, so this is a + b either way.
  // The backward rounds the gradient to bf16 for narrow (what the cast's backward did) and passes it to wide.
  private static Tensor addWidened(Tensor wide, Tensor narrow) {
    if (!wide.shape().equals(narrow.shape())) {
      throw new IllegalArgumentException("add: shapes " + wide.shape() + " and " + narrow.shape() + " differ");
    }
    Tensor out = Tensor.empty(DType.F32, wide.device(), wide.dims());
    backend(wide).add(wide, narrow, out);
    Tape.maybeRecord(out, (d, grads) -> {
      Slot s = grads.slot(narrow);
      if (s != null) backend(wide).cast(d, s.buffer(), s.accumulate());
      grads.pass(wide, d);
    }, wide, narrow);
    return out;
  }

  private static Tensor addSame(Tensor a, Tensor b) {
    Tensor out = Tensor.empty(a.dtype(), a.device(), a.dims());
    backend(a).add(a, b, out);
    Tape.maybeRecord(out, (d, grads) -> {
      if (b != a) {
        Slot s = grads.slot(b);
        if (s != null) backend(a).addBackward(d, s.buffer(), null, s.accumulate());
      } else {
        grads.pass(a, d);  // a + a: d once here, once more below
      }
      grads.pass(a, d);
    }, a, b);
    return out;
  }

  /** a * b, same shapes. Mixed F32 and BF16 promote to F32. */
  public static Tensor mul(Tensor a, Tensor b) {
    if (mixedFloat(a, b)) return mulSame(cast(a, DType.F32), cast(b, DType.F32));
    return mulSame(a, b);
  }

  private static Tensor mulSame(Tensor a, Tensor b) {
    Tensor out = Tensor.empty(a.dtype(), a.device(), a.dims());
    backend(a).mul(a, b, out);
    Tape.maybeRecord(out, (d, grads) -> {
      Slot sa = grads.slot(a);
      if (sa != null) backend(a).mulBackward(a, b, d, sa.buffer(), null, sa.accumulate());
      Slot sb = grads.slot(b);
      if (sb != null) backend(a).mulBackward(a, b, d, null, sb.buffer(), sb.accumulate());
    }, a, b);
    return out;
  }

  /** alpha * a. */
  public static Tensor scale(Tensor a, double alpha) {
    Tensor out = Tensor.empty(a.dtype(), a.device(), a.dims());
    backend(a).scale(a, alpha, out);
    Tape.maybeRecord(out, (d, grads) -> {
      Slot s = grads.slot(a);
      if (s != null) backend(a).scaleBackward(d, alpha, s.buffer(), s.accumulate());
    }, a);
    return out;
  }

  /** The same values with another shape; the gradient flows back reshaped. */
  public static Tensor reshape(Tensor a, long... dims) {
    Tensor out = a.reshape(dims);
    Tape.maybeRecord(out, (d, grads) -> {
      Slot s = grads.slot(a);
      if (s == null) return;
      Tensor dv = d.reshape(a.dims());
      if (s.accumulate()) backend(a).axpy(1.0, dv, s.buffer());
      else backend(a).copy(dv, s.buffer());
    }, a);
    return out;
  }

  /**
   * x converted to dtype (F32 or BF16; bf16 rounded to nearest even): x itself when it already has that
   * dtype. The backward is the cast the other way, into x's gradient (+= when it accumulates).
   */
  public static Tensor cast(Tensor x, DType dtype) {
    if (dtype == null || dtype == DType.I32) throw new IllegalArgumentException("cast: target dtype must be F32 or BF16, got " + dtype);
    if (x.dtype() == dtype) return x;
    if (x.dtype() == DType.I32) throw new IllegalArgumentException("cast: " + x.shape() + " I32 ids are not cast to " + dtype);
    Tensor y = Tensor.empty(dtype, x.device(), x.dims());
    backend(x).cast(x, y, false);
    Tape.maybeRecord(y, (dy, grads) -> {
      Slot s = grads.slot(x);
      if (s != null) backend(x).cast(dy, s.buffer(), s.accumulate());
    }, x);
    return y;
  }

  // ---- activations and norms ----------------------------------------------------------------------

  /** gelu(x): tanh approximation (GPT-2) when tanh, else exact erf (BERT). */
  public static Tensor gelu(Tensor x, boolean tanh) {
    Tensor y = Tensor.empty(x.dtype(), x.device(), x.dims());
    backend(x).gelu(x, y, tanh);
    Tape.maybeRecord(y, (dy, grads) -> {
      Slot s = grads.slot(x);
      if (s != null) backend(x).geluBackward(x, dy, s.buffer(), tanh, s.accumulate());
    }, x);
    return y;
  }

  /**
   * LayerNorm over the last dim with weight and bias (bias may be null). An input of another float dtype
   * than weight is cast to weight's first (a bf16 activation into an fp32 LayerNorm: fp32 statistics).
   */
  public static Tensor layerNorm(Tensor x, Tensor weight, Tensor bias, double eps) {
    if (mixedFloat(x, weight)) return layerNormAs(cast(x, weight.dtype()), weight, bias, eps, weight.dtype());
    return layerNormAs(x, weight, bias, eps, x.dtype());
  }

  /**
   * {@link #layerNorm} for an output that feeds a linear: inside a bf16 {@link Autocast} for x's device,
   * with fp32 x and weight, the output is written in bf16 (the fp32 result rounded once, exactly what the
   * linear's cast of it would give) and its gradient is taken in bf16, so no cast pass runs either way.
   * Elsewhere it is {@link #layerNorm}. Statistics, weight and bias gradients stay fp32.
   */
  public static Tensor layerNormForLinear(Tensor x, Tensor weight, Tensor bias, double eps) {
    if (Autocast.active(x.device()) == null || x.dtype() != DType.F32 || weight.dtype() != DType.F32) {
      return layerNorm(x, weight, bias, eps);
    }
    return layerNormAs(x, weight, bias, eps, DType.BF16);
  }

  // y in yType (x's dtype, or BF16 beside fp32 x); the backward adds into x's gradient in the kernel.
  private static Tensor layerNormAs(Tensor x, Tensor weight, Tensor bias, double eps, DType yType) {
    Tensor y = Tensor.empty(yType, x.device(), x.dims());
    long rows = x.shape().rows();
    boolean record = Tape.active() != null;
    Tensor mean = record ? Tensor.empty(DType.F32, x.device(), rows) : null;
    Tensor rstd = record ? Tensor.empty(DType.F32, x.device(), rows) : null;
    backend(x).layerNorm(x, weight, bias, y, mean, rstd, eps);
    boolean recorded = Tape.maybeRecord(y, (dy, grads) -> {
      Slot dw = grads.slot(weight), db = grads.slot(bias);
      Tensor dweight = dw != null ? dw.buffer() : Tensor.zeros(DType.F32, x.device(), weight.dims());
      if (dw != null && !dw.accumulate()) backend(x).fill(dweight, 0.0);
      Tensor dbias = db == null ? null : db.buffer();
      if (db != null && !db.accumulate()) backend(x).fill(dbias, 0.0);
      Slot dx = grads.slot(x);
      if (dx != null) {
        backend(x).layerNormBackward(x, weight, mean, rstd, dy, dx.buffer(), dweight, dbias, dx.accumulate(), false);
      } else {
        try (Tensor scratch = Tensor.empty(x.dtype(), x.device(), x.dims())) {
          backend(x).layerNormBackward(x, weight, mean, rstd, dy, scratch, dweight, dbias);
        }
      }
    }, x, weight, bias);
    if (!recorded && mean != null) {
      mean.close();
      rstd.close();
    }
    return y;
  }

  /** softmax(scale * x) over the last dim. */
  public static Tensor softmax(Tensor x, double scale) {
    Tensor y = Tensor.empty(x.dtype(), x.device(), x.dims());
    backend(x).softmax(x, y, scale);
    Tape.maybeRecord(y, (dy, grads) -> grads.write(x, dx -> backend(x).softmaxBackward(y, dy, dx, scale)), x);
    return y;
  }

  // ---- attention ----------------------------------------------------------------------------------

  /**
   * Multi-head attention over (B, T, W) token rows (see {@link AttentionSpec} for columns); keyMask
   * I32 (B, Tk) or null. Returns (B, Tq, H*D). When q, k and v are the same packed tensor, the backward
   * writes one packed gradient. Inside a bf16 {@link Autocast} for q's device, fp32 inputs are cast to
   * bf16 first (a packed q = k = v once) and the result is bf16.
   */
  public static Tensor attention(AttentionSpec spec, Tensor q, Tensor k, Tensor v, Tensor keyMask) {
    if (Autocast.active(q.device()) != null) {
      Tensor q16 = cast(q, DType.BF16);
      Tensor k16 = k == q ? q16 : cast(k, DType.BF16);
      Tensor v16 = v == q ? q16 : v == k ? k16 : cast(v, DType.BF16);
      return attentionSame(spec, q16, k16, v16, keyMask);
    }
    return attentionSame(spec, q, k, v, keyMask);
  }

  private static Tensor attentionSame(AttentionSpec spec, Tensor q, Tensor k, Tensor v, Tensor keyMask) {
    Tensor out = Tensor.empty(q.dtype(), q.device(), q.dim(0), q.dim(1), spec.width());
    boolean record = Tape.active() != null;
    Tensor lse = record ? Tensor.empty(DType.F32, q.device(), q.dim(0), spec.heads(), q.dim(1)) : null;
    backend(q).attention(spec, q, k, v, keyMask, out, lse);
    boolean recorded = Tape.maybeRecord(out, (dout, grads) -> {
      if (q == k && k == v) {
        grads.write(q, d -> backend(q).attentionBackward(spec, q, k, v, keyMask, out, lse, dout, d, d, d));
        return;
      }
      // Separate inputs: gradients into fresh buffers, then into each input's slot. The kernel writes
      // only the columns the spec reads, so an input wider than its heads (a packed block) starts at zero.
      try (Tensor dq = gradBuffer(q, spec.width()); Tensor dk = gradBuffer(k, spec.width());
           Tensor dv = gradBuffer(v, spec.width())) {
        backend(q).attentionBackward(spec, q, k, v, keyMask, out, lse, dout, dq, dk, dv);
        for (Tensor[] pair : new Tensor[][] {{q, dq}, {k, dk}, {v, dv}}) {
          Slot s = grads.slot(pair[0]);
          if (s == null) continue;
          if (s.accumulate()) backend(q).axpy(1.0, pair[1], s.buffer());
          else backend(q).copy(pair[1], s.buffer());
        }
      }
    }, q, k, v);
    if (!recorded && lse != null) lse.close();
    return out;
  }

  private static Tensor gradBuffer(Tensor x, int width) {
    return x.dim(-1) == width ? Tensor.empty(x.dtype(), x.device(), x.dims()) : Tensor.zeros(x.dtype(), x.device(), x.dims());
  }

  // ---- embedding and loss -------------------------------------------------------------------------

  /** table[ids]: ids I32 (...), table (V, D) -> (..., D). */
  public static Tensor embedding(Tensor ids, Tensor table) {
    long[] dims = new long[ids.rank() + 1];
    System.arraycopy(ids.dims(), 0, dims, 0, ids.rank());
    dims[ids.rank()] = table.dim(1);
    Tensor out = Tensor.empty(table.dtype(), table.device(), dims);
    backend(table).embedding(ids, table, out);
    Tape.maybeRecord(out, (d, grads) -> {
      Slot s = grads.slot(table);
      if (s == null) return;
      if (!s.accumulate()) backend(table).fill(s.buffer(), 0.0);
      backend(table).embeddingBackward(ids, d, s.buffer());
    }, table);
    return out;
  }

  /**
   * Mean cross-entropy as a one-element F32 tensor: sum of per-token losses / normalizer. logits
   * (..., Vpad) with the first vocab columns real; targets I32 (...); ignoreIndex tokens count for
   * nothing. normalizer is the non-ignored token count of the whole accumulation window (DESIGN.md).
   */
  public static Tensor crossEntropy(Tensor logits, Tensor targets, int vocab, int ignoreIndex, double normalizer) {
    Tensor loss = Tensor.empty(DType.F32, logits.device(), 1);
    backend(logits).crossEntropy(logits, targets, vocab, ignoreIndex, normalizer, null, loss);
    Tape.maybeRecord(loss, (dl, grads) -> {
      if (backend(logits) instanceof CudaBackend cuda && dl.dtype() == DType.F32) {
        // The loss's gradient stays on the device: no host read, so the backward queues behind the
        // forward without waiting for it and can be captured in a CUDA graph.
        grads.write(logits, d -> cuda.crossEntropyBackwardDeviceGrad(logits, targets, vocab, ignoreIndex, normalizer,
            dl, d));
        return;
      }
      double g = dl.item();
      grads.write(logits, d -> backend(logits).crossEntropyBackward(logits, targets, vocab, ignoreIndex, normalizer,
          g, d));
    }, logits);
    return loss;
  }

  /** Number of targets that are not ignoreIndex: the normalizer of a single-batch mean. */
  public static long countTargets(Tensor targets, int ignoreIndex) {
    long n = 0;
    for (int t : targets.toIntArray()) if (t != ignoreIndex) n++;
    return n;
  }
}
