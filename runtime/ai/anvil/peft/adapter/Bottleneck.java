package ai.anvil.peft.adapter;

import ai.anvil.autograd.Ops;
import ai.anvil.autograd.ShapeOps;
import ai.anvil.backend.Backend;
import ai.anvil.nn.Init;
import ai.anvil.nn.Linear;
import ai.anvil.nn.Module;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Tensor;

/**
 * One Houlsby bottleneck: h + up(gelu(down(h))), down (m, C) and up (C, m) with biases. up starts at
 * zero, so a new adapter is the identity (Houlsby et al. 2019, "near-identity initialization"); its
 * gradient at the first step is gelu(down(h)), so down must not start at zero (N(0, 0.02)).
 */
public final class Bottleneck extends Module {
  private final Linear down;
  private final Linear up;

  /** width C, bottleneck size m; down N(0, 0.02), up zero, biases zero. */
  public Bottleneck(long width, long size, Init init, Device device) {
    if (size < 1 || width < 1) throw new IllegalArgumentException("a bottleneck needs width and size >= 1, got " + width + ", " + size);
    this.down = child("down", new Linear(width, size, true, 0.02, init, device));
    this.up = child("up", new Linear(size, width, true, 0.0, init, device));
    Backend.of(device).fill(up.weight(), 0.0);
  }

  /** h (..., C) -> (..., C). */
  public Tensor forward(Tensor h) {
    return Ops.add(h, term(h));
  }

  /** The adapter's term alone, up(gelu(down(h))): h (..., C) -> (..., C). */
  public Tensor term(Tensor h) {
    return up.forward(Ops.gelu(down.forward(h), true));
  }

  /**
   * The term on the output of a frozen layer without computing that output again: down(x W^T + b) is
   * x (D W)^T + (D b + d), so for x (..., in) -> (..., C) it costs one small (m, C) x (C, in) product
   * instead of a second pass of the layer. Gradients reach D, d, up and x (W and b are read only).
   */
  public Tensor termAfter(Linear layer, Tensor x) {
    if (layer.out() != down.in()) {
      throw new IllegalArgumentException("Bottleneck.termAfter: layer gives " + layer.out() + " features, the adapter takes " + down.in());
    }
    long in = layer.in(), m = down.out(), rows = x.numel() / in;
    Tensor fusedWeight = Ops.matmul(down.weight(), layer.weight(), false, false);          // (m, in)
    Tensor fusedBias = down.bias();                                                         // (m)
    if (layer.bias() != null) {
      Tensor db = Ops.matmul(layer.bias().reshape(1, layer.out()), down.weight(), false, true);   // (1, m)
      fusedBias = Ops.add(Ops.reshape(db, m), down.bias());
    }
    // Ops.linear takes parameters as weights; the fused weight is computed, so a plain product and the
    // bias added row by row.
    Tensor z = Ops.matmul(Ops.reshape(x, rows, in), fusedWeight, false, true);               // (rows, m)
    z = Ops.add(z, ShapeOps.repeat(fusedBias, rows));
    Tensor out = up.forward(Ops.gelu(z, true));                                              // (rows, C)
    long[] dims = x.dims();
    dims[dims.length - 1] = up.out();
    return Ops.reshape(out, dims);
  }

  public Linear down() {
    return down;
  }

  public Linear up() {
    return up;
  }
}
