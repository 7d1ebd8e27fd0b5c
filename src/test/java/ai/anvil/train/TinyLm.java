package ai.anvil.train;

import ai.anvil.autograd.Ops;
import ai.anvil.nn.Embedding;
import ai.anvil.nn.Init;
import ai.anvil.nn.Linear;
import ai.anvil.nn.Module;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Tensor;

/** A two-layer next-token model (embedding, GELU, linear head) for trainer tests that need no GPT. */
final class TinyLm extends Module implements Objective {
  final int vocab;
  private final Embedding wte;
  private final Linear head;

  TinyLm(int vocab, int width, long seed) {
    this.vocab = vocab;
    Init init = new Init(seed);
    this.wte = child("wte", new Embedding(vocab, width, 0.5, init, Device.CPU));
    this.head = child("head", new Linear(width, vocab, true, 0.5, init, Device.CPU));
  }

  @Override
  public Tensor loss(Tensor inputs, Tensor targets, double normalizer) {
    Tensor logits = head.forward(Ops.gelu(wte.forward(inputs), true));
    return Ops.crossEntropy(logits, targets, vocab, ignoreIndex(), normalizer);
  }
}
