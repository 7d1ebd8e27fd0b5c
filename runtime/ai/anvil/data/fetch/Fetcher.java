package ai.anvil.data.fetch;

import ai.anvil.data.fetch.Bibles.Verse;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Fetches the public corpora and tokenizer files Anvil trains on, and nothing else: the only code in Anvil
 * that touches the network, and only through the machine's own package clients ({@code apt-get download}
 * from Debian, {@code npm pack} from the npm registry), so their configured mirrors and proxies apply.
 * Downloads and results are checked against the SHA-256 sums recorded in {@link Sources} and kept in a cache
 * folder: {@code <cache>/downloads/<package>/} for what the clients fetched, {@code <cache>/corpora/<name>/}
 * and {@code <cache>/tokenizers/gpt2/} for the results. A second fetch of a cached name runs nothing.
 *
 * <p>Names: {@code kjv}, {@code web}, {@code rv1909} (Bibles: one verse a line, plus a
 * {@code book<TAB>chapter<TAB>verse<TAB>text} file beside it, see {@link #versesPath}), {@code sotu},
 * {@code moby-dick} (prose, documents separated by a blank line), {@code gpt2-tokenizer} (GPT-2's
 * {@code encoder.json} and {@code vocab.bpe}; {@link #fetch} returns their folder), {@code sentiment}
 * (labelled sentences split into {@code train.jsonl}, {@code val.jsonl}, {@code test.jsonl}; {@link #fetch}
 * returns their folder; see {@link Sentiment}).
 *
 * <p>Needs Debian's apt-get and dpkg-deb (x86-64 for the Bible tools, which run once to print the text) and
 * npm on the PATH.
 */
public final class Fetcher {
    /** System property naming the cache folder; default {@code ~/.cache/anvil}. */
    public static final String CACHE_PROPERTY = "anvil.cache";

    private static final Logger log = LoggerFactory.getLogger(Fetcher.class);

    private final Path cache;
    private final FetchListener listener;

    /** A fetcher on {@link #defaultCacheDir()} that reports nothing. */
    public Fetcher() {
        this(defaultCacheDir(), FetchListener.NONE);
    }

    public Fetcher(Path cacheDir, FetchListener listener) {
        this.cache = cacheDir.toAbsolutePath();
        this.listener = listener == null ? FetchListener.NONE : listener;
    }

    /** The folder named by the system property {@value #CACHE_PROPERTY}, else {@code ~/.cache/anvil}. */
    public static Path defaultCacheDir() {
        String p = System.getProperty(CACHE_PROPERTY);
        if (p != null && !p.isBlank()) {
            return Path.of(p);
        }
        return Path.of(System.getProperty("user.home"), ".cache", "anvil");
    }

    /** The names {@link #fetch} accepts. */
    public static List<String> names() {
        return Sources.names();
    }

    /** One line saying what {@code name} is and where it comes from. */
    public static String describe(String name) {
        return Sources.get(name).description();
    }

    public Path cacheDir() {
        return cache;
    }

    /** Where {@link #fetch} leaves {@code name}: the text file, or the tokenizer folder. May not exist yet. */
    public Path path(String name) {
        Sources.Source s = Sources.get(name);
        return s.isFolder() ? target(s) : target(s).resolve(s.outputs().get(0).file());
    }

    /** The verse-table file of a Bible ({@code kjv}, {@code web}, {@code rv1909}). May not exist yet. */
    public Path versesPath(String name) {
        Sources.Source s = Sources.get(name);
        return s.outputs().stream().filter(o -> o.file().endsWith(".tsv")).findFirst()
                .map(o -> target(s).resolve(o.file()))
                .orElseThrow(() -> new IllegalArgumentException("'" + name + "' is not a Bible; it has no verse table"));
    }

    /** True when every result file of {@code name} is in the cache with its recorded size. */
    public boolean isCached(String name) {
        Sources.Source s = Sources.get(name);
        for (Sources.Expected e : s.outputs()) {
            Path f = target(s).resolve(e.file());
            try {
                if (!Files.isRegularFile(f) || Files.size(f) != e.bytes()) {
                    return false;
                }
            } catch (IOException ex) {
                return false;
            }
        }
        return true;
    }

    /**
     * Makes {@code name} available in the cache, downloading and cleaning it unless it is already there,
     * and returns {@link #path(String)}.
     *
     * @throws IllegalArgumentException for an unknown name
     * @throws FetchException when a client is missing or fails, or a checksum does not match
     */
    public Path fetch(String name) throws IOException {
        Sources.Source s = Sources.get(name);
        Path result = path(name);
        if (isCached(name)) {
            listener.done(name, result, true);
            return result;
        }
        Files.createDirectories(cache.resolve("work"));
        Path lockFile = cache.resolve("work").resolve(name + ".lock");
        // The lock keeps two processes sharing a cache from working in the same folder; closing releases it.
        try (FileChannel ch = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
            ch.lock();
            if (!isCached(name)) { // another process may have finished it while we waited
                long t0 = System.nanoTime();
                Path work = cache.resolve("work").resolve(name);
                deleteTree(work);
                Files.createDirectories(work);
                s.recipe().produce(new Job(name, s, work));
                install(s, work);
                deleteTree(work);
                log.info("fetched {} into {} in {} s", name, target(s), (System.nanoTime() - t0) / 1_000_000_000L);
            }
        }
        listener.done(name, result, false);
        return result;
    }

    private Path target(Sources.Source s) {
        return cache.resolve(s.folder());
    }

    /** Checks every result in {@code work/out} against its recorded size and SHA-256, then moves it into place. */
    private void install(Sources.Source s, Path work) throws IOException {
        Path out = work.resolve("out");
        List<String> wrong = new ArrayList<>();
        for (Sources.Expected e : s.outputs()) {
            Path f = out.resolve(e.file());
            if (!Files.isRegularFile(f)) {
                throw new FetchException("fetching " + s.name() + " did not produce " + e.file());
            }
            String sha = sha256(f);
            long bytes = Files.size(f);
            if (bytes != e.bytes() || !sha.equals(e.sha256())) {
                wrong.add(e.file() + " is " + bytes + " bytes with sha256 " + sha + ", expected " + e.bytes()
                        + " bytes with sha256 " + e.sha256() + " (the rejected file is kept at " + f + ")");
            }
        }
        if (!wrong.isEmpty()) {
            throw new FetchException(s.name() + ": the cleaned result differs from the recorded one, so the package"
                    + " or its tools changed:\n  " + String.join("\n  ", wrong));
        }
        Path target = target(s);
        Files.createDirectories(target);
        for (Sources.Expected e : s.outputs()) {
            Files.move(out.resolve(e.file()), target.resolve(e.file()), StandardCopyOption.REPLACE_EXISTING,
                    StandardCopyOption.ATOMIC_MOVE);
        }
    }

    /** The state one fetch passes to its recipe: where to work, how to report, how to download. */
    final class Job {
        final String name;
        final Sources.Source source;
        final Path work;
        final Clients clients;
        private int step;

        Job(String name, Sources.Source source, Path work) {
            this.name = name;
            this.source = source;
            this.work = work;
            this.clients = new Clients(name, listener);
        }

        void step(String what) {
            step++;
            listener.step(name, step, source.steps(), what);
        }

        Path out(String file) throws IOException {
            Files.createDirectories(work.resolve("out"));
            return work.resolve("out").resolve(file);
        }

        /** Downloads a Debian package (cached under downloads/) and checks it when it is pinned. */
        Path deb(Sources.Deb d) throws IOException {
            step("download Debian package " + d.pkg() + (d.version() == null ? "" : " " + d.version()));
            Path deb = clients.aptDownload(d.pkg(), d.version(), cache.resolve("downloads").resolve(d.pkg()), d.bytes());
            if (d.sha256() != null) {
                checkDownload(deb, d.bytes(), d.sha256());
            }
            return deb;
        }

        /** Downloads an npm package tarball (cached under downloads/) and checks it. */
        Path npm(Sources.Npm n) throws IOException {
            step("download npm package " + n.spec());
            String folder = n.spec().replace('/', '+');
            Path tgz = clients.npmPack(n.spec(), cache.resolve("downloads").resolve(folder), n.bytes());
            checkDownload(tgz, n.bytes(), n.sha256());
            return tgz;
        }

        void extract(List<Path> debs, Path root) throws IOException {
            step("unpack " + debs.size() + " package" + (debs.size() == 1 ? "" : "s"));
            for (Path d : debs) {
                clients.dpkgExtract(d, root);
            }
        }

        List<String> runTool(List<String> command, Map<String, String> env) throws IOException {
            step("run " + Path.of(command.get(0)).getFileName());
            Path stdout = work.resolve("tool-output.txt");
            clients.run(command, work, env, stdout, null, -1, null);
            return Files.readAllLines(stdout, StandardCharsets.UTF_8);
        }

        void writeBible(List<Verse> verses, int expectedVerses) throws IOException {
            step("clean " + verses.size() + " verses");
            if (verses.size() != expectedVerses) {
                throw new FetchException(name + ": the tool printed " + verses.size() + " verses, expected "
                        + expectedVerses);
            }
            Bibles.writeText(verses, out(name + ".txt"));
            Bibles.writeTsv(verses, out(name + ".tsv"));
        }

        void writeText(String text) throws IOException {
            step("write " + name + ".txt");
            Files.writeString(out(name + ".txt"), text, StandardCharsets.UTF_8);
        }
    }

    private static void checkDownload(Path f, long bytes, String sha256) throws IOException {
        String sha = sha256(f);
        if (Files.size(f) != bytes || !sha.equals(sha256)) {
            throw new FetchException(f + " is " + Files.size(f) + " bytes with sha256 " + sha + ", expected " + bytes
                    + " bytes with sha256 " + sha256 + "; delete it and fetch again, or the registry's copy changed");
        }
    }

    /** Lower-case hex SHA-256 of a file. */
    public static String sha256(Path f) throws IOException {
        MessageDigest md = sha256Digest();
        try (InputStream in = new DigestInputStream(Files.newInputStream(f), md)) {
            in.transferTo(OutputStream.nullOutputStream());
        }
        return HexFormat.of().formatHex(md.digest());
    }

    /** Lower-case hex SHA-256 of bytes. */
    public static String sha256(byte[] data) {
        return HexFormat.of().formatHex(sha256Digest().digest(data));
    }

    private static MessageDigest sha256Digest() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 missing from this JVM", e);
        }
    }

    static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        Files.walkFileTree(dir, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                Files.delete(file);
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult postVisitDirectory(Path d, IOException e) throws IOException {
                if (e != null) {
                    throw e;
                }
                Files.delete(d);
                return FileVisitResult.CONTINUE;
            }
        });
    }

    /** The one folder under {@code root/usr/lib} that holds {@code libsword}: the multiarch library folder. */
    static Path libDir(Path root) throws IOException {
        List<Path> found = new ArrayList<>();
        try (Stream<Path> s = Files.walk(root.resolve("usr/lib"), 2)) {
            s.filter(p -> p.getFileName().toString().startsWith("libsword")).forEach(p -> found.add(p.getParent()));
        }
        if (found.isEmpty()) {
            throw new FetchException("no libsword under " + root.resolve("usr/lib") + " after unpacking libsword");
        }
        return found.get(0);
    }
}
