package ai.anvil.cli;

import ai.anvil.train.report.RunReport;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

/** HTML pages for run folders (train.report.RunReport): loss curves, result tables, the method comparison. */
@Command(name = "report", mixinStandardHelpOptions = true,
    description = {"Write report.html into each run folder (one holding metrics.jsonl): loss curves as inline SVG, "
        + "the run's results and settings; a folder of runs also gets a comparison page.",
        "The pages need no network and no script. Prints the pages written."})
final class ReportCommand implements Callable<Integer> {
  @Parameters(arity = "1..*", paramLabel = "DIR", description = "Run folders, or folders of runs.")
  List<Path> dirs;

  @Override
  public Integer call() throws IOException {
    for (Path d : dirs) for (Path page : RunReport.write(d)) System.out.println(page);
    return 0;
  }
}
