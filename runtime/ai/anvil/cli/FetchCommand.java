package ai.anvil.cli;

import ai.anvil.data.fetch.FetchListener;
import ai.anvil.data.fetch.Fetcher;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** Fetches public corpora and tokenizer files through Debian's and npm's clients into the cache. */
@Command(name = "fetch", mixinStandardHelpOptions = true,
    description = "Fetch public corpora and tokenizer files (the only command that uses the network).")
final class FetchCommand implements Callable<Integer> {
  @Parameters(arity = "0..*", paramLabel = "NAME", description = "What to fetch; --list shows the names.")
  List<String> names = List.of();

  @Option(names = "--cache", paramLabel = "DIR", description = "Cache folder (default: ${sys:user.home}/.cache/anvil).")
  Path cache;

  @Option(names = "--list", description = "List what can be fetched.")
  boolean list;

  @Override
  public Integer call() throws IOException {
    if (list || names.isEmpty()) {
      for (String n : Fetcher.names()) System.out.printf("%-16s %s%n", n, Fetcher.describe(n));
      return names.isEmpty() && !list ? 2 : 0;
    }
    Fetcher fetcher = new Fetcher(cache != null ? cache : Fetcher.defaultCacheDir(), new Progress());
    for (String name : names) {
      if (!Fetcher.names().contains(name)) {
        throw new IllegalArgumentException("unknown name '" + name + "'; known: " + String.join(", ", Fetcher.names()));
      }
    }
    for (String name : names) System.out.println(name + "\t" + fetcher.fetch(name));
    return 0;
  }

  /** Step lines and a download counter on stderr. */
  private static final class Progress implements FetchListener {
    @Override
    public void step(String name, int step, int steps, String what) {
      System.err.printf("%s [%d/%d] %s%n", name, step, steps, what);
    }

    @Override
    public synchronized void progress(String name, long done, long total) {
      String t = total > 0 ? String.format(" of %.1f MB", total / 1e6) : "";
      System.err.printf("\r%s: %.1f MB%s   ", name, done / 1e6, t);
      if (total > 0 && done >= total) System.err.println();
    }

    @Override
    public void done(String name, Path path, boolean fromCache) {
      System.err.println(name + (fromCache ? " (cached) " : " ready: ") + path);
    }
  }
}
