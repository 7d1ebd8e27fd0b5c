package ai.anvil.autograd;

import ai.anvil.autograd.Tape.Slot;
import ai.anvil.backend.Backend;
import ai.anvil.tensor.Tensor;
import java.util.Arrays;

/**
 * Differentiable joins and cuts of contiguous tensors along one dimension: {@link #concat},
 * {@link #narrow} and {@link #repeat}. No new kernels: each is a set of {@link Backend#copy} calls over
 * contiguous chunks (prod(dims[0..dim)) chunks per input), forward and backward alike, so they run on
 * every backend. Meant for short joins (a soft prompt or key/value prefix before a sequence), where the
 * chunk count is the batch size or a handful of rows.
 */
public final class ShapeOps {
  private ShapeOps() {}

  /**
   * parts joined along dim: every part has the same rank, dtype and device, and equal dims except at
   * dim. (B, T1, W) and (B, T2, W) along 1 -> (B, T1+T2, W). The gradient of each part is its block
   * of the output's gradient.
   */
  public static Tensor concat(int dim, Tensor... parts) {
    if (parts.length == 0) throw new IllegalArgumentException("concat: no inputs");
    Tensor first = parts[0];
    int rank = first.rank();
    if (dim < 0 || dim >= rank) throw new IllegalArgumentException("concat: dim " + dim + " out of range for " + first.shape());
    long[] outDims = first.dims();
    outDims[dim] = 0;
    for (Tensor p : parts) {
      boolean same = p.rank() == rank && p.dtype() == first.dtype() && p.device().equals(first.device());
      for (int i = 0; same && i < rank; i++) same = i == dim || p.dim(i) == first.dim(i);
      if (!same) {
        throw new IllegalArgumentException("concat along " + dim + ": " + p.shape() + " " + p.dtype() + " does not match "
            + first.shape() + " " + first.dtype());
      }
      outDims[dim] += p.dim(dim);
    }
    long outer = outer(first.dims(), dim);
    long outInner = inner(outDims, dim);
    Tensor out = Tensor.empty(first.dtype(), first.device(), outDims);
    Backend be = Backend.of(first.device());
    long offset = 0;
    for (Tensor p : parts) {
      long in = inner(p.dims(), dim);
      copyChunks(be, p, 0, in, out, offset, outInner, in, outer, false);
      offset += in;
    }
    Tape.maybeRecord(out, (d, grads) -> {
      long off = 0;
      for (Tensor p : parts) {
        long in = inner(p.dims(), dim);
        Slot s = grads.slot(p);
        if (s != null) copyChunks(be, d, off, outInner, s.buffer(), 0, in, in, outer, s.accumulate());
        off += in;
      }
    }, parts);
    return out;
  }

  /** Elements [start, start + length) of x along dim; the gradient is zero outside that range. */
  public static Tensor narrow(Tensor x, int dim, long start, long length) {
    if (dim < 0 || dim >= x.rank()) throw new IllegalArgumentException("narrow: dim " + dim + " out of range for " + x.shape());
    if (start < 0 || length < 0 || start + length > x.dim(dim)) {
      throw new IllegalArgumentException("narrow: [" + start + ", " + (start + length) + ") out of range of dim " + dim
          + " of " + x.shape());
    }
    long[] outDims = x.dims();
    outDims[dim] = length;
    long outer = outer(x.dims(), dim);
    long xInner = inner(x.dims(), dim);
    long outInner = inner(outDims, dim);
    long skip = xInner / x.dim(dim) * start;
    Backend be = Backend.of(x.device());
    Tensor out = Tensor.empty(x.dtype(), x.device(), outDims);
    copyChunks(be, x, skip, xInner, out, 0, outInner, outInner, outer, false);
    Tape.maybeRecord(out, (d, grads) -> {
      Slot s = grads.slot(x);
      if (s == null) return;
      if (!s.accumulate()) be.fill(s.buffer(), 0.0);
      copyChunks(be, d, 0, outInner, s.buffer(), skip, xInner, outInner, outer, true);
    }, x);
    return out;
  }

  /** times copies of x stacked on a new leading dimension: (...) -> (times, ...); the gradient sums them. */
  public static Tensor repeat(Tensor x, long times) {
    if (times < 1) throw new IllegalArgumentException("repeat: times must be >= 1, got " + times);
    long[] dims = new long[x.rank() + 1];
    dims[0] = 1;
    System.arraycopy(x.dims(), 0, dims, 1, x.rank());
    Tensor one = Ops.reshape(x, dims);
    Tensor[] parts = new Tensor[Math.toIntExact(times)];
    Arrays.fill(parts, one);
    return concat(0, parts);
  }

  /** Product of dims before dim: the number of contiguous chunks. */
  private static long outer(long[] dims, int dim) {
    long n = 1;
    for (int i = 0; i < dim; i++) n *= dims[i];
    return n;
  }

  /** Product of dims from dim on: one chunk's length. */
  private static long inner(long[] dims, int dim) {
    long n = 1;
    for (int i = dim; i < dims.length; i++) n *= dims[i];
    return n;
  }

  /**
   * For each of count chunks c: dst[c*dstStride + dstOffset, + length) = (or +=) src[c*srcStride +
   * srcOffset, + length), both seen flat.
   */
  private static void copyChunks(Backend be, Tensor src, long srcOffset, long srcStride, Tensor dst, long dstOffset,
                                 long dstStride, long length, long count, boolean accumulate) {
    if (length == 0) return;
    try (Tensor s = src.reshape(src.numel()); Tensor d = dst.reshape(dst.numel())) {
      for (long c = 0; c < count; c++) {
        try (Tensor from = s.slice(c * srcStride + srcOffset, c * srcStride + srcOffset + length);
             Tensor to = d.slice(c * dstStride + dstOffset, c * dstStride + dstOffset + length)) {
          if (accumulate) be.axpy(1.0, from, to);
          else be.copy(from, to);
        }
      }
    }
  }
}
