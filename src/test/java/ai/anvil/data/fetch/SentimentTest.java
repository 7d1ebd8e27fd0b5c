package ai.anvil.data.fetch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.anvil.io.Json;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The sentiment split on made-up fixture files shaped like the package's (500 + 500 per source, a null at the end). */
class SentimentTest {

    private static byte[] fixture(String source, int negatives, int positives) {
        StringBuilder b = new StringBuilder("[");
        for (int i = 0; i < negatives + positives; i++) {
            int c = i % 2 == 0 && i / 2 < negatives || i / 2 >= positives ? 0 : 1;
            b.append("{\"text\":\" ").append(source).append(" sentence ").append(i).append(" \",\"class\":").append(c).append("},");
        }
        return b.append("{\"text\":\"\",\"class\":null}]").toString().getBytes(StandardCharsets.UTF_8);
    }

    private static List<Sentiment.Row> all() throws FetchException {
        List<Sentiment.Row> rows = new ArrayList<>();
        for (String s : Sentiment.SOURCES) rows.addAll(Sentiment.parse(fixture(s, 500, 500), s));
        return rows;
    }

    @Test
    void parseSkipsTheNullEntryStripsAndNamesLabels() throws FetchException {
        List<Sentiment.Row> rows = Sentiment.parse(fixture("imdb", 500, 500), "imdb");
        assertEquals(1000, rows.size());
        assertEquals("imdb sentence 0", rows.get(0).text());
        assertEquals(500, rows.stream().filter(r -> r.label().equals("positive")).count());
        assertEquals(Map.of("text", "imdb sentence 0", "label", rows.get(0).label(), "source", "imdb"),
                Json.parseObject(rows.get(0).json()));
    }

    @Test
    void parseRefusesUnbalancedFiles() {
        FetchException e = assertThrows(FetchException.class, () -> Sentiment.parse(fixture("yelp", 499, 500), "yelp"));
        assertTrue(e.getMessage().contains("yelp.json: expected 500 sentences of each class, found 499 negative"), e.getMessage());
        assertThrows(FetchException.class, () -> Sentiment.parse("{}".getBytes(StandardCharsets.UTF_8), "amazon"));
    }

    @Test
    void splitIsStratifiedDisjointAndFixed() throws FetchException {
        Sentiment.Split s = Sentiment.split(all());
        assertEquals(2100, s.train().size());
        assertEquals(300, s.val().size());
        assertEquals(600, s.test().size());
        for (List<Sentiment.Row> part : List.of(s.train(), s.val(), s.test())) {
            for (String source : Sentiment.SOURCES) {
                for (String label : List.of("negative", "positive")) {
                    long n = part.stream().filter(r -> r.source().equals(source) && r.label().equals(label)).count();
                    assertEquals(part.size() / 6, n, source + "/" + label);
                }
            }
        }
        Set<String> seen = new HashSet<>();
        for (List<Sentiment.Row> part : List.of(s.train(), s.val(), s.test())) for (Sentiment.Row r : part) assertTrue(seen.add(r.text()));
        assertEquals(3000, seen.size());
        // Same input, same split; the training order is shuffled (not grouped by source).
        assertEquals(s, Sentiment.split(all()));
        long runs = 0;
        for (int i = 1; i < s.train().size(); i++) if (!s.train().get(i).source().equals(s.train().get(i - 1).source())) runs++;
        assertTrue(runs > 1000, "train order changes source " + runs + " times");
        assertTrue(Sentiment.jsonl(s.test()).endsWith("}\n"));
        assertEquals(600, Sentiment.jsonl(s.test()).split("\n").length);
    }
}
