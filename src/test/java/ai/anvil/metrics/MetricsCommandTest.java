package ai.anvil.metrics;

import static ai.anvil.metrics.GoldenJson.assertClose;
import static ai.anvil.metrics.GoldenJson.num;
import static ai.anvil.metrics.GoldenJson.strings;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.anvil.cli.MetricsCommand;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** The {@code metrics} command end to end: files in, one JSON line out, the reference tools' numbers. */
class MetricsCommandTest {
  @TempDir Path dir;
  private final StringWriter out = new StringWriter();
  private final StringWriter err = new StringWriter();

  private int run(String... args) {
    CommandLine cl = new CommandLine(new MetricsCommand());
    cl.setOut(new PrintWriter(out));
    cl.setErr(new PrintWriter(err));
    return cl.execute(args);
  }

  private Map<String, Object> json() {
    String[] lines = out.toString().split("\n");
    assertEquals(1, lines.length, "one JSON line: " + out);
    return GoldenJson.parse(lines[0]);
  }

  private Path file(String name, List<String> lines, String eol) throws IOException {
    Path p = dir.resolve(name);
    Files.writeString(p, String.join(eol, lines) + eol, StandardCharsets.UTF_8);
    return p;
  }

  @Test
  void bleuMatchesSacrebleuOnAGoldenCorpusWithTwoReferenceFiles() throws IOException {
    Map<String, Object> golden = null;
    for (Map<String, Object> c : GoldenJson.cases(GoldenJson.load("bleu.json"), "corpus")) {
      List<?> refs = (List<?>) c.get("refs");
      String all = c.get("hyps").toString() + refs;
      if (refs.size() == 2 && !all.contains("null") && !all.contains("\n") && !all.contains("\r")
          && !(Boolean) c.get("lowercase") && strings(c.get("hyps")).size() > 2) {
        golden = c;
        break;
      }
    }
    assertTrue(golden != null, "a golden case with two complete reference sets");
    @SuppressWarnings("unchecked")
    List<List<String>> refs = (List<List<String>>) golden.get("refs");
    Path hyp = file("hyp.txt", strings(golden.get("hyps")), "\r\n"); // CRLF is read as LF
    Path r0 = file("ref0.txt", refs.get(0), "\n");
    Path r1 = file("ref1.txt", refs.get(1), "\n");
    assertEquals(0, run("bleu", "--pred", hyp.toString(), "--ref", r0.toString(), "--ref", r1.toString()), err.toString());
    Map<String, Object> j = json();
    assertEquals("bleu", j.get("metric"));
    assertClose(num(golden.get("score")), num(j.get("score")), "score");
    assertEquals(golden.get("signature"), j.get("signature"));
    assertEquals(golden.get("counts"), j.get("counts"));
  }

  @Test
  void rougeReportsMeansOfPrecisionRecallAndF() throws IOException {
    Path pred = file("p.txt", List.of("the cat sat", "a dog ran"), "\n");
    Path ref = file("r.txt", List.of("the cat sat", "the dog runs"), "\n");
    assertEquals(0, run("rouge", "--pred", pred.toString(), "--ref", ref.toString(), "--stem"), err.toString());
    Map<String, Object> j = json();
    @SuppressWarnings("unchecked")
    Map<String, Object> r1 = (Map<String, Object>) j.get("rouge1");
    // example 2 stemmed: {a, dog, ran} vs {the, dog, run}: 1/3 each
    assertClose((1.0 + 1.0 / 3) / 2, num(r1.get("fmeasure")), "rouge1 F");
    assertEquals(Boolean.TRUE, j.get("use_stemmer"));
    assertEquals(2L, j.get("n"));
  }

  @Test
  void f1AndAccuracyReadOneLabelPerLine() throws IOException {
    Path pred = file("p.txt", List.of("pos", "neg", "pos ", "pos"), "\n");
    Path ref = file("r.txt", List.of("pos", "pos", "neg", "pos"), "\n");
    assertEquals(0, run("f1", "--pred", pred.toString(), "--ref", ref.toString(), "--pos-label", "pos"), err.toString());
    Map<String, Object> j = json();
    assertClose(2.0 / 3, num(j.get("precision")), "precision");
    assertClose(2.0 / 3, num(j.get("recall")), "recall");
    assertEquals("binary", j.get("average"));
    out.getBuffer().setLength(0);
    assertEquals(0, run("accuracy", "--pred", pred.toString(), "--ref", ref.toString()));
    assertClose(0.5, num(json().get("accuracy")), "accuracy");
    out.getBuffer().setLength(0);
    assertEquals(0, run("f1", "--pred", pred.toString(), "--ref", ref.toString(), "--average", "macro"));
    // pos: P 2/3 R 2/3; neg: P 0 R 0
    assertClose(1.0 / 3, num(json().get("f1")), "macro F1");
  }

  @Test
  void distinctNeedsNoReference() throws IOException {
    Path pred = file("p.txt", List.of("a b a b", "a b"), "\n");
    assertEquals(0, run("distinct", "--pred", pred.toString()), err.toString());
    Map<String, Object> j = json();
    assertClose(2.0 / 6, num(j.get("distinct1")), "distinct-1");
    assertClose(2.0 / 4, num(j.get("distinct2")), "distinct-2");
  }

  @Test
  void userErrorsExitWithUsageCodeAndAMessage() throws IOException {
    Path two = file("two.txt", List.of("a", "b"), "\n");
    Path three = file("three.txt", List.of("a", "b", "c"), "\n");
    assertEquals(2, run("bleu", "--pred", two.toString(), "--ref", three.toString()));
    assertTrue(err.toString().contains("has 2 lines but"), err.toString());
    Path multi = file("multi.txt", List.of("a", "b", "c"), "\n");
    assertEquals(2, run("f1", "--pred", three.toString(), "--ref", multi.toString()));
    assertTrue(err.toString().contains("multiclass"), err.toString());
    assertEquals(2, run());
    assertEquals(2, run("f1", "--pred", two.toString(), "--ref", two.toString(), "--average", "samples"));
    List<String> none = new ArrayList<>();
    Path empty = file("empty.txt", none, "");
    assertEquals(2, run("accuracy", "--pred", empty.toString(), "--ref", empty.toString()));
  }
}
