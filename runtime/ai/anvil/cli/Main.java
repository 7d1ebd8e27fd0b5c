package ai.anvil.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The {@code anvil} command line: {@code info}, {@code fetch}, {@code pretrain}, {@code finetune}, {@code eval},
 * {@code generate}, {@code metrics}, {@code import-minilm}, {@code embed}. Commands parse flags, call the library (train/, infer/, data/) and print; results go
 * to stdout (the last line of {@code pretrain} and {@code eval} is one JSON object), progress to stderr.
 */
@Command(name = "anvil", mixinStandardHelpOptions = true, version = "anvil 0.1.0",
    description = "Train and run transformer language models from Java.",
    subcommands = {InfoCommand.class, FetchCommand.class, PretrainCommand.class, FinetuneCommand.class,
        EvalCommand.class, GenerateCommand.class, MetricsCommand.class, ImportMiniLmCommand.class, EmbedCommand.class,
        Seq2seqCommand.class,
        FewShotCommand.class, SampleQualityCommand.class, ReportCommand.class, CommandLine.HelpCommand.class})
public final class Main implements Runnable {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  public static void main(String[] args) {
    System.exit(run(args));
  }

  /** Runs the command line and returns its exit code (for tests and embedding). */
  public static int run(String... args) {
    System.setProperty("java.awt.headless", "true");
    CommandLine cli = new CommandLine(new Main());
    cli.setExecutionExceptionHandler((e, cmd, parsed) -> {
      // Expected failures (bad flags, missing files) print one line; anything else keeps its trace.
      if (e instanceof IllegalArgumentException || e instanceof java.io.IOException
          || e instanceof java.io.UncheckedIOException || e instanceof IllegalStateException) {
        cmd.getErr().println(cmd.getColorScheme().errorText("anvil " + cmd.getCommandName() + ": " + e.getMessage()));
        return 1;
      }
      throw e;
    });
    return cli.execute(args);
  }

  @Override
  public void run() {
    spec.commandLine().usage(System.err);
  }
}
