package ai.anvil.nn;

import ai.anvil.autograd.Ops;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Tensor;

/** A lookup table (V, D): ids (...) -> (..., D). */
public final class Embedding extends Module {
  private final Tensor weight;

  public Embedding(long vocab, long dim, double std, Init init, Device device) {
    this.weight = parameter("weight", init.normal(device, std, vocab, dim));
  }

  public Tensor forward(Tensor ids) {
    return Ops.embedding(ids, weight);
  }

  public Tensor weight() {
    return weight;
  }
}
