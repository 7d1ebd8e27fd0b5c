package ai.anvil.bench;

import java.io.IOException;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.options.Options;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;

/**
 * The performance guard: runs the benchmarks named in a floors file with short settings and fails
 * (exit 1) when any falls below the floor recorded for it. Meant to be run by hand (bench/guard.sh):
 * these machines are noisy, so floors sit well below the medians in bench/RESULTS.md.
 *
 * <p>Floors file lines: {@code <Benchmark class>.<method>[:<param>=<value>,...] = <minimum score>} in the
 * benchmark's own unit (its @OutputTimeUnit ops per time unit).
 */
public final class Guard {
  private Guard() {}

  public static void main(String[] args) throws IOException, RunnerException {
    Path floorsFile = Path.of(args.length > 0 ? args[0] : "bench/floors.properties");
    Properties floors = new Properties();
    try (Reader r = Files.newBufferedReader(floorsFile)) {
      floors.load(r);
    }
    Map<String, Double> wanted = new TreeMap<>();
    for (String key : floors.stringPropertyNames()) wanted.put(key, Double.parseDouble(floors.getProperty(key).trim()));
    List<String> classes = new ArrayList<>();
    for (String key : wanted.keySet()) {
      String bench = key.split(":")[0];
      String cls = bench.substring(0, bench.lastIndexOf('.'));
      if (!classes.contains(cls)) classes.add(cls);
    }
    OptionsBuilder builder = new OptionsBuilder();
    for (String cls : classes) builder.include("^" + cls.replace(".", "\\.") + "\\.");
    Options options = builder.forks(1).warmupIterations(2).warmupTime(TimeValue.seconds(1))
        .measurementIterations(3).measurementTime(TimeValue.seconds(1)).timeUnit(TimeUnit.SECONDS).build();
    Collection<RunResult> results = new Runner(options).run();
    int failures = 0, checked = 0;
    System.out.println();
    System.out.printf("%-70s %12s %12s  %s%n", "benchmark", "score", "floor", "verdict");
    for (RunResult result : results) {
      String key = keyOf(result);
      Double floor = wanted.get(key);
      if (floor == null) continue;
      checked++;
      double score = result.getPrimaryResult().getScore();
      boolean ok = score >= floor;
      if (!ok) failures++;
      System.out.printf("%-70s %12.2f %12.2f  %s%n", key, score, floor, ok ? "ok" : "BELOW FLOOR");
    }
    if (checked < wanted.size()) {
      System.out.println("guard: " + (wanted.size() - checked) + " floors matched no benchmark result");
      failures++;
    }
    System.out.println(failures == 0 ? "guard: all hot paths at or above their floors" : "guard: FAILED");
    System.exit(failures == 0 ? 0 : 1);
  }

  private static String keyOf(RunResult result) {
    var params = result.getParams();
    StringBuilder key = new StringBuilder(params.getBenchmark());
    List<String> parts = new ArrayList<>();
    for (String name : params.getParamsKeys()) parts.add(name + "=" + params.getParam(name));
    if (!parts.isEmpty()) key.append(':').append(String.join(",", parts));
    return key.toString();
  }
}
