package ai.anvil.data.fetch;

import ai.anvil.io.Json;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * The UCI "Sentiment Labelled Sentences" (Kotzias, Denil, de Freitas and Smyth, KDD 2015; CC BY 4.0) as npm
 * {@code sentiment@5.0.2} ships them in {@code package/test/fixtures/{amazon,imdb,yelp}.json} (each an array
 * of {@code {"text", "class": 0|1}}, 500 of each class, ending with a null entry), split into fixed
 * train / val / test JSON lines for {@code anvil finetune}.
 *
 * <p>The split is stratified: each of the six (source, label) groups of 500 is shuffled with
 * {@link #SEED} and cut 350 / 50 / 100, so train (2,100), val (300) and test (600) all hold every source
 * and both labels in equal shares (the majority-class baseline is exactly 50%). Train is then shuffled
 * once more (so that consecutive lines mix sources); val and test stay grouped, amazon, imdb, yelp, each
 * negative then positive. Each line is {@code {"text": ..., "label": "positive"|"negative", "source":
 * "amazon"|"imdb"|"yelp"}}; texts are the package's strings with surrounding whitespace stripped.
 */
final class Sentiment {
  static final List<String> SOURCES = List.of("amazon", "imdb", "yelp");
  static final long SEED = 20151110L;   // the KDD 2015 paper's date; any fixed number would do
  static final int PER_GROUP = 500;
  static final int TRAIN = 350;
  static final int VAL = 50;

  /** One labelled sentence. */
  record Row(String text, String label, String source) {
    String json() {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("text", text);
      m.put("label", label);
      m.put("source", source);
      return Json.write(m);
    }
  }

  /** The three splits, in the order written. */
  record Split(List<Row> train, List<Row> val, List<Row> test) {}

  private Sentiment() {}

  /** Rows of one fixture file (a JSON array; null entries skipped); the counts are checked. */
  static List<Row> parse(byte[] json, String source) throws FetchException {
    Object all;
    try {
      all = Json.parse(new String(json, StandardCharsets.UTF_8));
    } catch (IllegalArgumentException e) {
      throw new FetchException(source + ".json is not JSON: " + e.getMessage(), e);
    }
    if (!(all instanceof List<?> items)) throw new FetchException(source + ".json: expected a JSON array");
    List<Row> rows = new ArrayList<>();
    int[] perClass = new int[2];
    for (Object o : items) {
      if (!(o instanceof Map<?, ?> m) || m.get("class") == null) continue;
      if (!(m.get("text") instanceof String text) || text.isBlank()) {
        throw new FetchException(source + ".json: an entry with class " + m.get("class") + " has no text");
      }
      int c = ((Number) m.get("class")).intValue();
      if (c != 0 && c != 1) throw new FetchException(source + ".json: class " + m.get("class") + " is neither 0 nor 1");
      perClass[c]++;
      rows.add(new Row(text.strip(), c == 1 ? "positive" : "negative", source));
    }
    if (perClass[0] != PER_GROUP || perClass[1] != PER_GROUP) {
      throw new FetchException(source + ".json: expected " + PER_GROUP + " sentences of each class, found "
          + perClass[0] + " negative and " + perClass[1] + " positive");
    }
    return rows;
  }

  /** The fixed split of all rows (every source's, in {@link #SOURCES} order), as the class comment says. */
  static Split split(List<Row> rows) {
    Random random = new Random(SEED);
    List<Row> train = new ArrayList<>(), val = new ArrayList<>(), test = new ArrayList<>();
    for (String source : SOURCES) {
      for (String label : List.of("negative", "positive")) {
        List<Row> group = new ArrayList<>();
        for (Row r : rows) if (r.source().equals(source) && r.label().equals(label)) group.add(r);
        if (group.size() != PER_GROUP) {
          throw new IllegalArgumentException(source + "/" + label + ": " + group.size() + " rows, expected " + PER_GROUP);
        }
        Collections.shuffle(group, random);
        train.addAll(group.subList(0, TRAIN));
        val.addAll(group.subList(TRAIN, TRAIN + VAL));
        test.addAll(group.subList(TRAIN + VAL, PER_GROUP));
      }
    }
    Collections.shuffle(train, random);
    return new Split(train, val, test);
  }

  /** JSON lines, one row a line, ending in a newline. */
  static String jsonl(List<Row> rows) {
    StringBuilder b = new StringBuilder();
    for (Row r : rows) b.append(r.json()).append('\n');
    return b.toString();
  }
}
