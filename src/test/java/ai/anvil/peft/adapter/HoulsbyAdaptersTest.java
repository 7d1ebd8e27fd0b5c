package ai.anvil.peft.adapter;

import static ai.anvil.peft.TinyModels.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;

import ai.anvil.models.gpt.Gpt;
import ai.anvil.nn.Parameter;
import ai.anvil.peft.TinyModels;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class HoulsbyAdaptersTest {
  private static final int B = 2, T = 6;

  @Test
  void newAdaptersAreTheIdentityAndSitAfterBothSublayers() {
    int[] ids = TinyModels.ids(B * T, 1);
    try (Gpt gpt = TinyModels.gpt(41)) {
      float[] base = TinyModels.logits(gpt, ids, B);
      try (HoulsbyAdapters adapters = HoulsbyAdapters.attach(gpt, 8, 3)) {
        assertArrayEquals(base, TinyModels.logits(gpt, ids, B), "up starts at zero: nothing changes");
        assertEquals(16, adapters.adapterParameters().size(), "down/up weight and bias, attention and MLP, 2 layers");
        assertEquals(2 * 2 * (8 * 32 + 8 + 32 * 8 + 32), adapters.parameterCount(true));
        for (Parameter p : adapters.adapterParameters().values()) TinyModels.randomize(p.value(), 0.2, p.name().hashCode());
        float[] adapted = TinyModels.logits(gpt, ids, B);
        assertFalse(java.util.Arrays.equals(base, adapted));
        assertClose("cached decoding with adapters", adapted, TinyModels.decoded(gpt, ids, B), 2e-5);
      }
      assertNull(gpt.extension());
      assertArrayEquals(base, TinyModels.logits(gpt, ids, B), "closing detaches");
    }
  }

  @Test
  void saveAndLoadGiveTheSameOutputs(@TempDir Path dir) throws Exception {
    int[] ids = TinyModels.ids(B * T, 2);
    float[] adapted;
    try (Gpt gpt = TinyModels.gpt(42); HoulsbyAdapters adapters = HoulsbyAdapters.attach(gpt, 4, 3)) {
      long seed = 7;
      for (Parameter p : adapters.adapterParameters().values()) TinyModels.randomize(p.value(), 0.2, seed++);
      adapted = TinyModels.logits(gpt, ids, B);
      adapters.save(dir);
    }
    try (Gpt gpt = TinyModels.gpt(42); HoulsbyAdapters adapters = HoulsbyAdapters.load(gpt, dir)) {
      assertArrayEquals(adapted, TinyModels.logits(gpt, ids, B));
    }
  }
}
