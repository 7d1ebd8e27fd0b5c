package ai.anvil.data.fetch;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs the machine's package clients (apt-get, dpkg-deb, npm) and the corpus tools they bring, as
 * subprocesses. Their output goes to the listener line by line; a failure becomes a {@link FetchException}
 * carrying the command and the last lines it printed.
 */
final class Clients {
    private static final Logger log = LoggerFactory.getLogger(Clients.class);
    private static final int KEPT_LINES = 12;

    private final String name;
    private final FetchListener listener;

    Clients(String name, FetchListener listener) {
        this.name = name;
        this.listener = listener;
    }

    /**
     * Downloads one Debian package into {@code dir} with {@code apt-get download} ({@code version} null takes
     * the candidate version) and returns the .deb. A .deb already in {@code dir} is reused.
     */
    Path aptDownload(String pkg, String version, Path dir, long expectedBytes) throws IOException {
        Files.createDirectories(dir);
        Path existing = single(dir, ".deb");
        if (existing != null) {
            return existing;
        }
        String spec = version == null ? pkg : pkg + "=" + version;
        run(List.of("apt-get", "download", spec), dir, Map.of(), null, dir, expectedBytes,
                "if apt-get cannot locate the package, run 'apt-get update' first");
        Path deb = single(dir, ".deb");
        if (deb == null) {
            throw new FetchException("apt-get download " + spec + " finished but left no .deb in " + dir);
        }
        return deb;
    }

    /** Extracts a .deb's files into {@code root} with {@code dpkg-deb -x}. */
    void dpkgExtract(Path deb, Path root) throws IOException {
        Files.createDirectories(root);
        run(List.of("dpkg-deb", "-x", deb.toString(), root.toString()), root, Map.of(), null, null, -1, null);
    }

    /**
     * Downloads an npm package tarball into {@code dir} with {@code npm pack} and returns it. A tarball already
     * in {@code dir} is reused.
     */
    Path npmPack(String spec, Path dir, long expectedBytes) throws IOException {
        Files.createDirectories(dir);
        Path existing = single(dir, ".tgz");
        if (existing != null) {
            return existing;
        }
        run(List.of("npm", "pack", spec, "--pack-destination", dir.toString(), "--loglevel", "warn"), dir, Map.of(),
                null, dir, expectedBytes, null);
        Path tgz = single(dir, ".tgz");
        if (tgz == null) {
            throw new FetchException("npm pack " + spec + " finished but left no .tgz in " + dir);
        }
        return tgz;
    }

    /**
     * Runs {@code command} in {@code dir} with extra environment {@code env}. Standard output goes to
     * {@code stdoutFile} when given, else to the listener with standard error. When {@code watched} is given,
     * its total size is reported as progress against {@code expectedBytes} while the command runs.
     */
    void run(List<String> command, Path dir, Map<String, String> env, Path stdoutFile, Path watched,
             long expectedBytes, String hint) throws IOException {
        String shown = String.join(" ", command);
        log.debug("running {} in {}", shown, dir);
        ProcessBuilder pb = new ProcessBuilder(command).directory(dir.toFile());
        pb.environment().putAll(env);
        if (stdoutFile != null) {
            pb.redirectOutput(stdoutFile.toFile());
        } else {
            pb.redirectErrorStream(true);
        }
        Process p;
        try {
            p = pb.start();
        } catch (IOException e) {
            throw new FetchException("cannot start '" + command.get(0) + "' (" + e.getMessage() + "): fetch needs"
                    + " Debian's apt-get and dpkg-deb, and npm, on the PATH", e);
        }
        ScheduledExecutorService watcher = watched == null ? null : startWatcher(watched, expectedBytes);
        Deque<String> last = new ArrayDeque<>();
        try (BufferedReader r = new BufferedReader(new InputStreamReader(
                stdoutFile != null ? p.getErrorStream() : p.getInputStream(), StandardCharsets.UTF_8))) {
            String line;
            while ((line = r.readLine()) != null) {
                listener.output(name, line);
                if (last.size() == KEPT_LINES) {
                    last.removeFirst();
                }
                last.addLast(line);
            }
            int rc = p.waitFor();
            if (rc != 0) {
                throw new FetchException("'" + shown + "' (in " + dir + ") failed with exit code " + rc
                        + (last.isEmpty() ? "" : ":\n  " + String.join("\n  ", last))
                        + (hint == null ? "" : "\n" + hint));
            }
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new FetchException("interrupted while running '" + shown + "'", e);
        } finally {
            if (watcher != null) {
                watcher.shutdownNow();
                listener.progress(name, sizeOf(watched), expectedBytes);
            }
        }
    }

    private ScheduledExecutorService startWatcher(Path dir, long expected) {
        ScheduledExecutorService s = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "anvil-fetch-progress");
            t.setDaemon(true);
            return t;
        });
        s.scheduleAtFixedRate(() -> listener.progress(name, sizeOf(dir), expected), 500, 500, TimeUnit.MILLISECONDS);
        return s;
    }

    /** Total size of the regular files under {@code dir} (apt-get writes its partial download there). */
    private static long sizeOf(Path dir) {
        try (Stream<Path> s = Files.walk(dir)) {
            return s.filter(Files::isRegularFile).mapToLong(f -> {
                try {
                    return Files.size(f);
                } catch (IOException e) {
                    return 0; // a partial file renamed between listing and stat
                }
            }).sum();
        } catch (IOException | UncheckedIOException e) {
            return 0;
        }
    }

    /** The one file in {@code dir} ending in {@code suffix}, null when none; more than one is an error. */
    private static Path single(Path dir, String suffix) throws IOException {
        List<Path> found = new ArrayList<>();
        try (Stream<Path> s = Files.list(dir)) {
            s.filter(f -> f.getFileName().toString().endsWith(suffix) && Files.isRegularFile(f)).forEach(found::add);
        }
        if (found.size() > 1) {
            throw new FetchException("more than one " + suffix + " in " + dir + " (" + found
                    + "); delete the folder and fetch again");
        }
        return found.isEmpty() ? null : found.get(0);
    }
}
