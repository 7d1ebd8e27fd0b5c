package ai.anvil.train.seq2seq;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Parallel verses of two Bible translations, joined on (book, chapter, verse), from the {@code NAME.tsv}
 * files {@code fetch kjv|web|rv1909} writes (one verse a line: book TAB chapter TAB verse TAB text; books by
 * their KJV English names). Split by whole books, so no test verse has a neighbour in training.
 */
public final class VersePairs {
  /** One aligned verse: source text and target text. */
  public record Pair(String book, int chapter, int verse, String source, String target) {}

  /** Train, validation and test pairs; validation and test are whole books. */
  public record Split(List<Pair> train, List<Pair> val, List<Pair> test) {}

  private VersePairs() {}

  /** The verses present in both files, in the source file's order. A malformed line is an error naming it. */
  public static List<Pair> join(Path sourceTsv, Path targetTsv) throws IOException {
    Map<String, String> target = new HashMap<>();
    for (String[] row : read(targetTsv)) target.put(key(row), row[3]);
    List<Pair> out = new ArrayList<>();
    for (String[] row : read(sourceTsv)) {
      String t = target.get(key(row));
      if (t != null) out.add(new Pair(row[0], Integer.parseInt(row[1]), Integer.parseInt(row[2]), row[3], t));
    }
    if (out.isEmpty()) throw new IllegalArgumentException("no verse of " + sourceTsv + " has a match in " + targetTsv);
    return out;
  }

  /** Pairs of valBooks go to val, of testBooks to test, the rest to train; a book that is absent is an error. */
  public static Split byBooks(List<Pair> pairs, Set<String> valBooks, Set<String> testBooks) {
    Set<String> books = new LinkedHashSet<>();
    for (Pair p : pairs) books.add(p.book());
    for (Set<String> named : List.of(valBooks, testBooks)) {
      for (String b : named) {
        if (!books.contains(b)) throw new IllegalArgumentException("book '" + b + "' is not among the pairs; books: " + books);
      }
    }
    for (String b : valBooks) {
      if (testBooks.contains(b)) throw new IllegalArgumentException("book '" + b + "' is both a validation and a test book");
    }
    List<Pair> train = new ArrayList<>(), val = new ArrayList<>(), test = new ArrayList<>();
    for (Pair p : pairs) {
      if (testBooks.contains(p.book())) test.add(p);
      else if (valBooks.contains(p.book())) val.add(p);
      else train.add(p);
    }
    if (train.isEmpty()) throw new IllegalArgumentException("every book is held out: no training pairs");
    return new Split(train, val, test);
  }

  private static String key(String[] row) {
    return row[0] + '\t' + row[1] + '\t' + row[2];
  }

  private static List<String[]> read(Path tsv) throws IOException {
    List<String[]> rows = new ArrayList<>();
    int n = 0;
    for (String line : Files.readAllLines(tsv, StandardCharsets.UTF_8)) {
      n++;
      if (line.isEmpty()) continue;
      String[] f = line.split("\t", -1);
      if (f.length != 4 || !f[1].matches("\\d+") || !f[2].matches("\\d+")) {
        throw new IllegalArgumentException(tsv + ":" + n + ": expected book, chapter, verse, text separated by tabs");
      }
      rows.add(f);
    }
    return rows;
  }
}
