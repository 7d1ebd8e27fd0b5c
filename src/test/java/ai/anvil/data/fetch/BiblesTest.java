package ai.anvil.data.fetch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.anvil.data.fetch.Bibles.Verse;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The Bible cleaners on excerpts of what the tools print (copied from real runs). */
class BiblesTest {

    @Test
    void kjvKeepsVerseTextAndDropsReferences(@TempDir Path dir) throws IOException {
        List<String> out = List.of(
                "",
                "Genesis 1",
                "",
                "  1 In the beginning God created the heaven and the earth.",
                "  2 And the earth was without form, and void; and darkness was upon the face of the deep.",
                "",
                "Song of Solomon 2",
                "",
                "  17 Until the day break, and the shadows flee away, turn, my beloved,",
                "",
                "1 Samuel 3",
                "",
                "  10 And the LORD came, and stood, and called as at other times, Samuel, Samuel. ");
        List<Verse> v = Bibles.parseKjv(out, "test");
        assertEquals(List.of(
                new Verse("Genesis", 1, 1, "In the beginning God created the heaven and the earth."),
                new Verse("Genesis", 1, 2, "And the earth was without form, and void; and darkness was upon the face of the deep."),
                new Verse("Song of Solomon", 2, 17, "Until the day break, and the shadows flee away, turn, my beloved,"),
                new Verse("1 Samuel", 3, 10, "And the LORD came, and stood, and called as at other times, Samuel, Samuel. ")), v);
        Path txt = dir.resolve("k.txt");
        Path tsv = dir.resolve("k.tsv");
        Bibles.writeText(v, txt);
        Bibles.writeTsv(v, tsv);
        List<String> lines = Files.readAllLines(txt, StandardCharsets.UTF_8);
        assertEquals(4, lines.size());
        assertEquals("In the beginning God created the heaven and the earth.", lines.get(0));
        assertEquals("1 Samuel\t3\t10\tAnd the LORD came, and stood, and called as at other times, Samuel, Samuel. ",
                Files.readAllLines(tsv, StandardCharsets.UTF_8).get(3));
    }

    @Test
    void kjvRejectsUnknownLinesNamingThem() {
        FetchException e = assertThrows(FetchException.class,
                () -> Bibles.parseKjv(List.of("Genesis 1", "  1 In the beginning", "garbage"), "out"));
        assertTrue(e.getMessage().startsWith("out:3:"), e.getMessage());
        e = assertThrows(FetchException.class, () -> Bibles.parseKjv(List.of("  1 Orphan verse"), "out"));
        assertTrue(e.getMessage().contains("out:1"), e.getMessage());
    }

    @Test
    void osisMarkupBecomesSpacedText() throws FetchException {
        List<String> out = List.of(
                "Genesis 1:1: <w>In</w> <w>the</w> <w>beginning</w>, <w>God</w><w>created</w> <w>the</w> <w>heavens</w>.<milestone type=\"line\"/>",
                "A Psalm by David, when he fled from Absalom his son.  Psalms 3:1: Yahweh, how <w>my</w> adversaries <w>have</w> increased!<milestone type=\"line\"/>",
                "<div sID=\"gen5266\" type=\"x-p\"/>Tobit 6:18: <milestone type=\"line\"/>",
                "II Samuel 1:1: <w>It</w><l level=\"1\" sID=\"x\"/><w>came</w> &amp; went",
                "Revelation of John 22:21: <w>The</w> <w>grace</w> saints. Amen.         World English Bible Glossary   Abaddon Abaddon is Hebrew",
                "(engWEB2015eb)",
                "");
        List<Verse> v = Bibles.parseDiatheke(out, true, "diatheke");
        assertEquals(List.of(
                new Verse("Genesis", 1, 1, "In the beginning, God created the heavens."),
                new Verse("Psalms", 3, 1, "Yahweh, how my adversaries have increased!"),
                new Verse("Tobit", 6, 18, ""),
                new Verse("2 Samuel", 1, 1, "It came & went"),
                new Verse("Revelation", 22, 21, "The grace saints. Amen.")), v);
    }

    @Test
    void plainMarkupLosesStrongsNumbers() throws FetchException {
        List<Verse> v = Bibles.parseDiatheke(List.of(
                "Revelation of John 22:21: La gracia de nuestro Señor Jesucristo <G5547> sea con todos vosotros. Amén.   ",
                "III John 1:2: Amado, yo deseo <H3967> que tú seas prosperado",
                "(spaRV1909eb)"), false, "d");
        assertEquals(new Verse("Revelation", 22, 21, "La gracia de nuestro Señor Jesucristo sea con todos vosotros. Amén."),
                v.get(0));
        assertEquals(new Verse("3 John", 1, 2, "Amado, yo deseo que tú seas prosperado"), v.get(1));
    }

    @Test
    void diathekeLineWithoutReferenceIsAnError() {
        FetchException e = assertThrows(FetchException.class,
                () -> Bibles.parseDiatheke(List.of("Genesis 1:1: ok", "Gnesis 1:2: typo"), true, "d"));
        assertTrue(e.getMessage().startsWith("d:2: no verse reference"), e.getMessage());
    }

    @Test
    void bookNamesFollowTheKjv() {
        assertEquals("1 Samuel", Bibles.kjvBookName("I Samuel"));
        assertEquals("4 Maccabees", Bibles.kjvBookName("IV Maccabees"));
        assertEquals("3 John", Bibles.kjvBookName("III John"));
        assertEquals("Revelation", Bibles.kjvBookName("Revelation of John"));
        assertEquals("Isaiah", Bibles.kjvBookName("Isaiah"));
    }
}
