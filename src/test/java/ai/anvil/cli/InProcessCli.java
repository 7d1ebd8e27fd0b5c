package ai.anvil.cli;

import ai.anvil.io.Json;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;

/** The CLI run in-process for the command tests, its output captured. */
final class InProcessCli {
  private InProcessCli() {}

  /** Runs the CLI with args; returns {exit code, stdout, stderr}. */
  static Object[] run(String... args) {
    PrintStream out = System.out, err = System.err;
    ByteArrayOutputStream o = new ByteArrayOutputStream(), e = new ByteArrayOutputStream();
    try {
      System.setOut(new PrintStream(o, true, StandardCharsets.UTF_8));
      System.setErr(new PrintStream(e, true, StandardCharsets.UTF_8));
      int code = Main.run(args);
      return new Object[] {code, o.toString(StandardCharsets.UTF_8), e.toString(StandardCharsets.UTF_8)};
    } finally {
      System.setOut(out);
      System.setErr(err);
    }
  }

  /** The last line of a command's stdout (its final JSON line), parsed. */
  static Map<String, Object> lastJson(String stdout) {
    List<String> lines = stdout.lines().toList();
    return Json.parseObject(lines.get(lines.size() - 1));
  }
}
