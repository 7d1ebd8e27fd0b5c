package ai.anvil.data.fetch;

import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * Turns what the Bible tools print into verses: the KJV's {@code bible} program (a heading line
 * "Book chapter", then indented verse lines "  n text") and SWORD's {@code diatheke} (one verse a line,
 * "Book c:v: text", OSIS or plain markup). Books carry the KJV's English names ("1 Samuel", "Revelation"),
 * so the three translations align by (book, chapter, verse).
 */
final class Bibles {

    /** One verse; {@code text} is clean plain text without tabs or newlines. */
    record Verse(String book, int chapter, int verse, String text) {}

    /** The book names diatheke prints (English locale), Protestant canon then the deuterocanon. */
    static final List<String> SWORD_BOOKS = List.of(
            "Genesis", "Exodus", "Leviticus", "Numbers", "Deuteronomy", "Joshua", "Judges", "Ruth", "I Samuel",
            "II Samuel", "I Kings", "II Kings", "I Chronicles", "II Chronicles", "Ezra", "Nehemiah", "Esther", "Job",
            "Psalms", "Proverbs", "Ecclesiastes", "Song of Solomon", "Isaiah", "Jeremiah", "Lamentations", "Ezekiel",
            "Daniel", "Hosea", "Joel", "Amos", "Obadiah", "Jonah", "Micah", "Nahum", "Habakkuk", "Zephaniah",
            "Haggai", "Zechariah", "Malachi", "Matthew", "Mark", "Luke", "John", "Acts", "Romans", "I Corinthians",
            "II Corinthians", "Galatians", "Ephesians", "Philippians", "Colossians", "I Thessalonians",
            "II Thessalonians", "I Timothy", "II Timothy", "Titus", "Philemon", "Hebrews", "James", "I Peter",
            "II Peter", "I John", "II John", "III John", "Jude", "Revelation of John",
            "Tobit", "Judith", "Esther (Greek)", "Wisdom", "Sirach", "Baruch", "Prayer of Azariah", "Susanna",
            "Bel and the Dragon", "I Maccabees", "II Maccabees", "I Esdras", "Prayer of Manasses",
            "Additional Psalm", "III Maccabees", "II Esdras", "IV Maccabees");

    /** "Book c:v: " where Book is one of {@link #SWORD_BOOKS}, at the line start or after whitespace or a tag. */
    private static final Pattern SWORD_REF = Pattern.compile("(?:^|(?<=[\\s>]))("
            + SWORD_BOOKS.stream().sorted(Comparator.comparingInt(String::length).reversed())
                    .map(Pattern::quote).collect(Collectors.joining("|"))
            + ") (\\d+):(\\d+): ");
    private static final Pattern KJV_VERSE = Pattern.compile("  (\\d+) (.*)");
    private static final Pattern KJV_HEADING = Pattern.compile("(\\S.*) (\\d+)");
    private static final Pattern MODULE_TRAILER = Pattern.compile("\\([A-Za-z0-9_]+\\)");
    private static final Pattern STRONGS = Pattern.compile("\\s*<[GH]\\d+>");
    private static final Pattern ADJACENT_WORDS = Pattern.compile("</w>(?=<w[ >])");
    private static final Pattern SPACING_TAG = Pattern.compile("<(?:milestone|/?l|/?lg|/?div|lb|/?p)\\b[^>]*>");
    private static final Pattern ANY_TAG = Pattern.compile("<[^>]*>");
    private static final Pattern SPACES = Pattern.compile("\\s+");
    /** The WEB module appends its glossary to Revelation 22:21. */
    private static final String WEB_GLOSSARY = "World English Bible Glossary";

    private Bibles() {}

    /** KJV names for SWORD's: "I Samuel" becomes "1 Samuel", "Revelation of John" becomes "Revelation". */
    static String kjvBookName(String swordName) {
        if (swordName.equals("Revelation of John")) {
            return "Revelation";
        }
        for (String[] roman : new String[][] {{"IV ", "4 "}, {"III ", "3 "}, {"II ", "2 "}, {"I ", "1 "}}) {
            if (swordName.startsWith(roman[0])) {
                return roman[1] + swordName.substring(roman[0].length());
            }
        }
        return swordName;
    }

    /**
     * Parses the output of {@code bible -l 100000 -p DIR "Gen1:1-Rev22:21"}: a non-indented line "Book n"
     * starts a chapter, "  n text" is a verse, blank lines separate chapters. The verse text is kept exactly.
     */
    static List<Verse> parseKjv(List<String> lines, String source) throws FetchException {
        List<Verse> verses = new ArrayList<>(31_200);
        String book = null;
        int chapter = 0;
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i);
            if (line.isEmpty()) {
                continue;
            }
            Matcher v = KJV_VERSE.matcher(line);
            if (v.matches()) {
                if (book == null) {
                    throw new FetchException(source + ":" + (i + 1) + ": verse before any chapter heading");
                }
                verses.add(new Verse(book, chapter, Integer.parseInt(v.group(1)), checkText(v.group(2), source, i)));
                continue;
            }
            Matcher h = KJV_HEADING.matcher(line);
            if (!h.matches()) {
                throw new FetchException(source + ":" + (i + 1) + ": neither a chapter heading nor a verse: '"
                        + abbreviate(line) + "'");
            }
            book = h.group(1);
            chapter = Integer.parseInt(h.group(2));
        }
        return verses;
    }

    /**
     * Parses diatheke's output, one verse a line. Anything before the reference on a line is a heading
     * (diatheke prints section headings and psalm titles there) and is dropped; the trailer line
     * "(module)" and blank lines are skipped. {@code osis} selects the markup cleaner.
     */
    static List<Verse> parseDiatheke(List<String> lines, boolean osis, String source) throws FetchException {
        List<Verse> verses = new ArrayList<>(38_000);
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i);
            if (line.isBlank() || MODULE_TRAILER.matcher(line.strip()).matches()) {
                continue;
            }
            Matcher m = SWORD_REF.matcher(line);
            if (!m.find()) {
                throw new FetchException(source + ":" + (i + 1) + ": no verse reference in '" + abbreviate(line) + "'");
            }
            String body = line.substring(m.end());
            String text = osis ? cleanOsis(body) : cleanPlain(body);
            verses.add(new Verse(kjvBookName(m.group(1)), Integer.parseInt(m.group(2)), Integer.parseInt(m.group(3)),
                    text));
        }
        return verses;
    }

    /**
     * OSIS verse markup to text: adjacent {@code <w>} elements get a space between them (the module often
     * writes {@code <w>God</w><w>created</w>}), line and paragraph markers become spaces, other tags go,
     * entities are decoded, whitespace runs collapse to one space.
     */
    static String cleanOsis(String s) {
        int glossary = s.indexOf(WEB_GLOSSARY);
        if (glossary >= 0) {
            s = s.substring(0, glossary);
        }
        s = ADJACENT_WORDS.matcher(s).replaceAll("</w> ");
        s = SPACING_TAG.matcher(s).replaceAll(" ");
        s = ANY_TAG.matcher(s).replaceAll("");
        s = s.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&apos;", "'")
                .replace("&amp;", "&");
        return SPACES.matcher(s).replaceAll(" ").strip();
    }

    /** Plain diatheke output to text: Strong's numbers ({@code <G5547>}, {@code <H430>}) go, spaces collapse. */
    static String cleanPlain(String s) {
        s = STRONGS.matcher(s).replaceAll("");
        return SPACES.matcher(s).replaceAll(" ").strip();
    }

    /** Writes one verse text a line (empty verses left out): the language-model text. */
    static void writeText(List<Verse> verses, Path file) throws IOException {
        try (BufferedWriter w = Files.newBufferedWriter(file, StandardCharsets.UTF_8)) {
            for (Verse v : verses) {
                if (!v.text().isEmpty()) {
                    w.write(v.text());
                    w.write('\n');
                }
            }
        }
    }

    /** Writes {@code book<TAB>chapter<TAB>verse<TAB>text} lines, no header (empty verses left out). */
    static void writeTsv(List<Verse> verses, Path file) throws IOException {
        try (BufferedWriter w = Files.newBufferedWriter(file, StandardCharsets.UTF_8)) {
            for (Verse v : verses) {
                if (!v.text().isEmpty()) {
                    w.write(v.book() + '\t' + v.chapter() + '\t' + v.verse() + '\t' + v.text() + '\n');
                }
            }
        }
    }

    private static String checkText(String text, String source, int line) throws FetchException {
        if (text.indexOf('\t') >= 0 || text.indexOf('\r') >= 0) {
            throw new FetchException(source + ":" + (line + 1) + ": tab or carriage return inside a verse");
        }
        return text;
    }

    private static String abbreviate(String s) {
        return s.length() <= 80 ? s : s.substring(0, 77) + "...";
    }
}
