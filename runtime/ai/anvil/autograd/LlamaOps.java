package ai.anvil.autograd;

import ai.anvil.autograd.Tape.Slot;
import ai.anvil.backend.Backend;
import ai.anvil.tensor.DType;
import ai.anvil.tensor.Tensor;

/**
 * The differentiable ops that Llama-family models add to {@link Ops}: RMSNorm, rotary embeddings, the
 * SiLU-gated product and the k/v head repetition of grouped-query attention. Each allocates its output
 * in the current scope, runs the backend's forward kernel and, when a tape records and an input needs
 * a gradient, records a rule that calls the matching backward kernel.
 */
public final class LlamaOps {
  private LlamaOps() {}

  private static Backend backend(Tensor t) {
    return Backend.of(t.device());
  }

  /**
   * x (..., C) * rstd * weight, rstd = 1 / sqrt(mean(x^2) + eps) per row; weight (C). An x of another
   * float dtype than weight is cast to weight's first (Ops.layerNorm's rule: a bf16 activation under
   * Autocast meets an fp32 norm).
   */
  public static Tensor rmsNorm(Tensor x, Tensor weight, double eps) {
    if (x.dtype() != weight.dtype() && x.dtype() != DType.I32 && weight.dtype() != DType.I32) {
      Tensor in = Ops.cast(x, weight.dtype());
      return rmsNormSame(in, weight, eps);
    }
    return rmsNormSame(x, weight, eps);
  }

  private static Tensor rmsNormSame(Tensor x, Tensor weight, double eps) {
    Tensor y = Tensor.empty(x.dtype(), x.device(), x.dims());
    boolean record = Tape.active() != null;
    Tensor rstd = record ? Tensor.empty(DType.F32, x.device(), x.shape().rows()) : null;
    backend(x).rmsNorm(x, weight, y, rstd, eps);
    boolean recorded = Tape.maybeRecord(y, (dy, grads) -> {
      Slot dw = grads.slot(weight);
      Tensor dweight = dw == null ? null : dw.buffer();
      if (dw != null && !dw.accumulate()) backend(x).fill(dweight, 0.0);
      if (grads.wants(x)) {
        grads.write(x, dx -> backend(x).rmsNormBackward(x, weight, rstd, dy, dx, dweight, eps));
      } else if (dweight != null) {
        backend(x).rmsNormBackward(x, weight, rstd, dy, null, dweight, eps);
      }
    }, x, weight);
    if (!recorded && rstd != null) rstd.close();
    return y;
  }

  /**
   * Rotary embedding of x (B, T, heads*headDim), token t at position posOffset + t, frequencies
   * theta^(-2j/headDim), Hugging Face's rotate_half convention. Returns a new tensor of x's shape.
   */
  public static Tensor rope(Tensor x, int heads, int headDim, long posOffset, double theta) {
    Tensor out = Tensor.empty(x.dtype(), x.device(), x.dims());
    backend(x).rope(x, out, heads, headDim, posOffset, theta);
    Tape.maybeRecord(out, (d, grads) ->
        grads.write(x, dx -> backend(x).ropeBackward(d, dx, heads, headDim, posOffset, theta)), x);
    return out;
  }

  /** silu(gate) * up, same shapes: the gated product of Llama's MLP. */
  public static Tensor swiglu(Tensor gate, Tensor up) {
    Tensor out = Tensor.empty(gate.dtype(), gate.device(), gate.dims());
    backend(gate).swiglu(gate, up, out);
    Tape.maybeRecord(out, (d, grads) -> {
      Slot sg = grads.slot(gate);
      if (gate != up) {
        Slot su = grads.slot(up);
        if (sg != null && su != null && sg.accumulate() == su.accumulate()) {
          backend(gate).swigluBackward(gate, up, d, sg.buffer(), su.buffer(), sg.accumulate());
          return;
        }
        if (sg != null) backend(gate).swigluBackward(gate, up, d, sg.buffer(), null, sg.accumulate());
        if (su != null) backend(gate).swigluBackward(gate, up, d, null, su.buffer(), su.accumulate());
        return;
      }
      // silu(a) * a: both terms go to one slot, the second added to the first.
      if (sg == null) return;
      backend(gate).swigluBackward(gate, up, d, sg.buffer(), null, sg.accumulate());
      backend(gate).swigluBackward(gate, up, d, null, sg.buffer(), true);
    }, gate, up);
    return out;
  }

  /**
   * Grouped-query head sharing: x (..., kvHeads*headDim) -> (..., kvHeads*groups*headDim), each kv head
   * repeated for its groups consecutive query heads. groups == 1 returns x itself.
   */
  public static Tensor repeatKv(Tensor x, int kvHeads, int groups, int headDim) {
    if (groups == 1) return x;
    long[] dims = x.dims();
    dims[dims.length - 1] = (long) kvHeads * groups * headDim;
    Tensor out = Tensor.empty(x.dtype(), x.device(), dims);
    backend(x).repeatKv(x, out, kvHeads, groups, headDim);
    Tape.maybeRecord(out, (d, grads) -> {
      Slot s = grads.slot(x);
      if (s != null) backend(x).repeatKvBackward(d, s.buffer(), kvHeads, groups, headDim, s.accumulate());
    }, x);
    return out;
  }
}
