package ai.anvil.cli;

import ai.anvil.metrics.Average;
import ai.anvil.metrics.Bleu;
import ai.anvil.metrics.BleuScore;
import ai.anvil.metrics.Classification;
import ai.anvil.metrics.Distinct;
import ai.anvil.metrics.Prf;
import ai.anvil.metrics.Rouge;
import ai.anvil.metrics.RougeScore;
import ai.anvil.metrics.RougeScores;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code anvil metrics bleu|rouge|f1|accuracy|distinct --pred FILE --ref FILE}: scores files the way the
 * reference tools do (sacreBLEU, rouge-score, scikit-learn) and prints one JSON line.
 *
 * <p>Files are UTF-8, one example per line; lines end at {@code \n} only (as sacreBLEU reads them), a
 * final newline does not start another example, and a trailing {@code \r} is dropped. Labels for
 * {@code f1}/{@code accuracy} are compared after trimming spaces. {@code --ref} may be given several
 * times for BLEU and ROUGE (several references per example).
 */
@Command(name = "metrics", mixinStandardHelpOptions = true,
    description = "Score predictions against references: BLEU, ROUGE, F1, accuracy, distinct-n (JSON out).",
    subcommands = {MetricsCommand.BleuCommand.class, MetricsCommand.RougeCommand.class, MetricsCommand.F1Command.class,
        MetricsCommand.AccuracyCommand.class, MetricsCommand.DistinctCommand.class})
public final class MetricsCommand implements Runnable {
  @Spec CommandSpec spec;

  @Override
  public void run() {
    throw new CommandLine.ParameterException(spec.commandLine(),
        "Missing subcommand: bleu, rouge, f1, accuracy or distinct");
  }

  /** Options every subcommand shares. */
  abstract static class Scoring implements Callable<Integer> {
    @Spec CommandSpec spec;

    @Option(names = "--pred", required = true, paramLabel = "FILE", description = "Predictions, one per line.")
    Path pred;

    abstract Map<String, Object> score(List<String> predictions);

    @Override
    public Integer call() {
      List<String> predictions = readLines(pred);
      Map<String, Object> out;
      try {
        out = score(predictions);
      } catch (IllegalArgumentException e) {
        throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage());
      }
      PrintWriter w = spec.commandLine().getOut();
      w.println(toJson(out));
      w.flush();
      return 0;
    }

    List<String> readLines(Path file) {
      String text;
      try {
        text = StandardCharsets.UTF_8.newDecoder()
            .onMalformedInput(CodingErrorAction.REPORT)
            .onUnmappableCharacter(CodingErrorAction.REPORT)
            .decode(ByteBuffer.wrap(Files.readAllBytes(file)))
            .toString();
      } catch (CharacterCodingException e) {
        throw new CommandLine.ParameterException(spec.commandLine(), file + " is not valid UTF-8");
      } catch (IOException e) {
        throw new CommandLine.ParameterException(spec.commandLine(), "cannot read " + file + ": " + e.getMessage());
      }
      List<String> lines = new ArrayList<>();
      int start = 0;
      while (start < text.length()) {
        int end = text.indexOf('\n', start);
        if (end < 0) end = text.length();
        String line = text.substring(start, end);
        lines.add(line.endsWith("\r") ? line.substring(0, line.length() - 1) : line);
        start = end + 1;
      }
      return lines;
    }

    /** The references, one list per --ref file, each as long as the predictions. */
    List<List<String>> readReferences(List<Path> refs, int expected) {
      List<List<String>> sets = new ArrayList<>();
      for (Path ref : refs) {
        List<String> lines = readLines(ref);
        if (lines.size() != expected) {
          throw new CommandLine.ParameterException(spec.commandLine(),
              pred + " has " + expected + " lines but " + ref + " has " + lines.size());
        }
        sets.add(lines);
      }
      return sets;
    }

    List<String> readLabels(Path file, int expected) {
      List<String> labels = new ArrayList<>();
      for (String line : readReferences(List.of(file), expected).get(0)) labels.add(line.strip());
      return labels;
    }
  }

  @Command(name = "bleu", mixinStandardHelpOptions = true,
      description = "Corpus BLEU with sacreBLEU's defaults (13a tokenization, exp smoothing), with its signature.")
  static final class BleuCommand extends Scoring {
    @Option(names = "--ref", required = true, paramLabel = "FILE", description = "References; repeat for several.")
    List<Path> refs;

    @Option(names = {"--lowercase", "-lc"}, description = "Lower-case before scoring (case:lc).")
    boolean lowercase;

    @Override
    Map<String, Object> score(List<String> predictions) {
      BleuScore s = new Bleu(lowercase, false).corpusScore(predictions, readReferences(refs, predictions.size()));
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("metric", "bleu");
      m.put("score", s.score());
      m.put("signature", s.signature());
      m.put("verbose_score", s.verbose());
      m.put("counts", s.counts());
      m.put("totals", s.totals());
      m.put("precisions", s.precisions());
      m.put("bp", s.bp());
      m.put("ratio", s.ratio());
      m.put("sys_len", s.sysLen());
      m.put("ref_len", s.refLen());
      m.put("n", predictions.size());
      return m;
    }
  }

  @Command(name = "rouge", mixinStandardHelpOptions = true,
      description = "ROUGE-1/2/L (rouge-score's defaults), mean over examples; best reference per example.")
  static final class RougeCommand extends Scoring {
    @Option(names = "--ref", required = true, paramLabel = "FILE", description = "References; repeat for several.")
    List<Path> refs;

    @Option(names = "--stem", description = "Porter-stem tokens longer than 3 letters (use_stemmer=True).")
    boolean stem;

    @Override
    Map<String, Object> score(List<String> predictions) {
      List<List<String>> sets = readReferences(refs, predictions.size());
      List<List<String>> targets = new ArrayList<>();
      for (int i = 0; i < predictions.size(); i++) {
        List<String> t = new ArrayList<>();
        for (List<String> set : sets) t.add(set.get(i));
        targets.add(t);
      }
      if (predictions.isEmpty()) throw new IllegalArgumentException(pred + " is empty");
      RougeScores s = new Rouge(stem).corpusScore(targets, predictions);
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("metric", "rouge");
      m.put("rouge1", rougeMap(s.rouge1()));
      m.put("rouge2", rougeMap(s.rouge2()));
      m.put("rougeL", rougeMap(s.rougeL()));
      m.put("use_stemmer", stem);
      m.put("aggregate", "mean");
      m.put("n", predictions.size());
      return m;
    }

    private static Map<String, Object> rougeMap(RougeScore s) {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("precision", s.precision());
      m.put("recall", s.recall());
      m.put("fmeasure", s.fmeasure());
      return m;
    }
  }

  @Command(name = "f1", mixinStandardHelpOptions = true,
      description = "Precision, recall and F1 as scikit-learn's precision_recall_fscore_support(zero_division=0).")
  static final class F1Command extends Scoring {
    @Option(names = "--ref", required = true, paramLabel = "FILE", description = "True labels, one per line.")
    Path ref;

    @Option(names = "--average", defaultValue = "binary", paramLabel = "binary|macro|micro|weighted",
        description = "How classes combine (default: ${DEFAULT-VALUE}, as scikit-learn).")
    String average;

    @Option(names = "--pos-label", defaultValue = "1", paramLabel = "LABEL",
        description = "The positive class for --average binary (default: ${DEFAULT-VALUE}).")
    String posLabel;

    @Override
    Map<String, Object> score(List<String> predictions) {
      Average avg = Average.parse(average);
      List<String> truth = readLabels(ref, predictions.size());
      List<String> pred = new ArrayList<>();
      for (String p : predictions) pred.add(p.strip());
      Prf s = Classification.precisionRecallF1(truth, pred, avg, posLabel);
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("metric", "f1");
      m.put("average", avg.name().toLowerCase(java.util.Locale.ROOT));
      if (avg == Average.BINARY) m.put("pos_label", posLabel);
      m.put("precision", s.precision());
      m.put("recall", s.recall());
      m.put("f1", s.f1());
      m.put("n", predictions.size());
      return m;
    }
  }

  @Command(name = "accuracy", mixinStandardHelpOptions = true, description = "The fraction of lines whose labels agree.")
  static final class AccuracyCommand extends Scoring {
    @Option(names = "--ref", required = true, paramLabel = "FILE", description = "True labels, one per line.")
    Path ref;

    @Override
    Map<String, Object> score(List<String> predictions) {
      List<String> truth = readLabels(ref, predictions.size());
      List<String> pred = new ArrayList<>();
      for (String p : predictions) pred.add(p.strip());
      double acc = Classification.accuracy(truth, pred);
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("metric", "accuracy");
      m.put("accuracy", acc);
      m.put("correct", Math.round(acc * predictions.size()));
      m.put("n", predictions.size());
      return m;
    }
  }

  @Command(name = "distinct", mixinStandardHelpOptions = true,
      description = "distinct-1/2 over whitespace tokens of the predictions (and of --ref, if given).")
  static final class DistinctCommand extends Scoring {
    @Option(names = "--ref", paramLabel = "FILE", description = "Optional human text to report alongside.")
    Path ref;

    @Override
    Map<String, Object> score(List<String> predictions) {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("metric", "distinct");
      m.put("distinct1", Distinct.ofTexts(predictions, 1));
      m.put("distinct2", Distinct.ofTexts(predictions, 2));
      if (ref != null) {
        List<String> refs = readLines(ref);
        m.put("ref_distinct1", Distinct.ofTexts(refs, 1));
        m.put("ref_distinct2", Distinct.ofTexts(refs, 2));
      }
      m.put("n", predictions.size());
      return m;
    }
  }

  // ---- one JSON line: strings, numbers, booleans, long[]/double[], and maps of those

  static String toJson(Object v) {
    StringBuilder sb = new StringBuilder();
    writeJson(sb, v);
    return sb.toString();
  }

  private static void writeJson(StringBuilder sb, Object v) {
    if (v instanceof String s) {
      sb.append('"');
      for (int i = 0; i < s.length(); i++) {
        char c = s.charAt(i);
        switch (c) {
          case '"' -> sb.append("\\\"");
          case '\\' -> sb.append("\\\\");
          case '\n' -> sb.append("\\n");
          case '\t' -> sb.append("\\t");
          case '\r' -> sb.append("\\r");
          default -> {
            if (c < 0x20) sb.append(String.format("\\u%04x", (int) c));
            else sb.append(c);
          }
        }
      }
      sb.append('"');
    } else if (v instanceof Double d) {
      if (!Double.isFinite(d)) throw new IllegalStateException("not a JSON number: " + d);
      sb.append(d);
    } else if (v instanceof Number || v instanceof Boolean) {
      sb.append(v);
    } else if (v instanceof long[] a) {
      sb.append('[');
      for (int i = 0; i < a.length; i++) sb.append(i > 0 ? "," : "").append(a[i]);
      sb.append(']');
    } else if (v instanceof double[] a) {
      sb.append('[');
      for (int i = 0; i < a.length; i++) {
        if (i > 0) sb.append(',');
        writeJson(sb, a[i]);
      }
      sb.append(']');
    } else if (v instanceof Map<?, ?> m) {
      sb.append('{');
      boolean first = true;
      for (Map.Entry<?, ?> e : m.entrySet()) {
        if (!first) sb.append(',');
        first = false;
        writeJson(sb, e.getKey().toString());
        sb.append(':');
        writeJson(sb, e.getValue());
      }
      sb.append('}');
    } else {
      throw new IllegalArgumentException("cannot write " + v + " as JSON");
    }
  }
}
