package ai.anvil.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** Every command is registered under its name and answers --help. */
class MainTest {

  @Test
  void everyCommandIsRegisteredAndHasHelp() {
    CommandLine cli = new CommandLine(new Main());
    for (String name : new String[] {"info", "fetch", "pretrain", "finetune", "eval", "generate", "metrics",
        "import-minilm", "embed"}) {
      assertTrue(cli.getSubcommands().containsKey(name), "missing command " + name);
      StringWriter out = new StringWriter();
      cli.setOut(new PrintWriter(out));
      assertEquals(0, cli.execute(name, "--help"), name + " --help");
      assertTrue(out.toString().contains("Usage"), name + " help text: " + out);
    }
  }
}
