package ai.anvil.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.anvil.train.TrainConfig;
import java.io.IOException;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** {@code pretrain --cuda-graph}, {@code --log-interval} and {@code --recompute} reach the TrainConfig, and bad values are refused naming the key. */
class PretrainStepFlagsTest {
  @Test
  void theFlagsBecomeConfigKeys() throws IOException {
    PretrainCommand cmd = new PretrainCommand();
    new CommandLine(cmd).parseArgs("--cuda-graph", "off", "--log-interval", "20", "--recompute", "true");
    TrainConfig c = cmd.resolveConfig();
    assertEquals("off", c.cudaGraph());
    assertEquals(20, c.logInterval());
    assertTrue(c.recompute());
    TrainConfig plain = resolve();
    assertEquals("auto", plain.cudaGraph());
    assertEquals(1, plain.logInterval());
  }

  @Test
  void badValuesAreRefusedNamingTheKey() {
    IllegalArgumentException mode = assertThrows(IllegalArgumentException.class, () -> resolve("--cuda-graph", "yes"));
    assertTrue(mode.getMessage().contains("cuda_graph"), mode.getMessage());
    IllegalArgumentException cpu = assertThrows(IllegalArgumentException.class,
        () -> resolve("--cuda-graph", "on", "--device", "cpu"));
    assertTrue(cpu.getMessage().contains("cpu"), cpu.getMessage());
    IllegalArgumentException interval = assertThrows(IllegalArgumentException.class, () -> resolve("--log-interval", "0"));
    assertTrue(interval.getMessage().contains("log_interval"), interval.getMessage());
  }

  private static TrainConfig resolve(String... args) throws IOException {
    PretrainCommand cmd = new PretrainCommand();
    new CommandLine(cmd).parseArgs(args);
    return cmd.resolveConfig();
  }
}
