package ai.anvil.peft.adapter;

import ai.anvil.autograd.Ops;
import ai.anvil.backend.Backend;
import ai.anvil.nn.Init;
import ai.anvil.nn.Linear;
import ai.anvil.nn.Module;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Tensor;

/**
 * One Houlsby bottleneck: h + up(gelu(down(h))), down (m, C) and up (C, m) with biases. up starts at
 * zero, so a new adapter is the identity (Houlsby et al. 2019, "near-identity initialization").
 */
public final class Bottleneck extends Module {
  private final Linear down;
  private final Linear up;

  Bottleneck(long width, long size, Init init, Device device) {
    this.down = child("down", new Linear(width, size, true, 0.02, init, device));
    this.up = child("up", new Linear(size, width, true, 0.0, init, device));
    Backend.of(device).fill(up.weight(), 0.0);
  }

  /** h (..., C) -> (..., C). */
  public Tensor forward(Tensor h) {
    return Ops.add(h, up.forward(Ops.gelu(down.forward(h), true)));
  }
}
