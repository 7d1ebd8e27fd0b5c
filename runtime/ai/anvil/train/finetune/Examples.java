package ai.anvil.train.finetune;

import ai.anvil.data.tokenizer.Tokenizer;
import ai.anvil.io.Json;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * Labelled examples for classification by generation, and their token form: the model reads
 * {@code text + separator} (the prompt) and is trained to continue it with the label's tokens.
 */
public final class Examples {
  /** One labelled text. */
  public record Example(String text, String label) {}

  /** An example as tokens: prompt, then label; rows longer than block + 1 lose the prompt's first tokens. */
  public record Encoded(int[] prompt, int[] label, int labelIndex) {
    /** inputs = (prompt + label) without its last token; targets = the label's tokens at the positions that predict them. */
    public int length() {
      return prompt.length + label.length - 1;
    }

    void write(int[] inputs, int[] targets, int offset, int ignore) {
      int n = length();
      for (int t = 0; t < n; t++) {
        inputs[offset + t] = t < prompt.length ? prompt[t] : label[t - prompt.length];
        int next = t + 1;
        targets[offset + t] = next < prompt.length ? ignore : label[next - prompt.length];
      }
    }
  }

  private Examples() {}

  /** {@link #read(Path, String)} with labels under "label". */
  public static List<Example> read(Path file) throws IOException {
    return read(file, "label");
  }

  /**
   * Reads JSON lines or one JSON array of objects with "text" and a label under labelKey; null entries
   * and entries without a label are skipped.
   */
  public static List<Example> read(Path file, String labelKey) throws IOException {
    String body = Files.readString(file).strip();
    List<Object> items = new ArrayList<>();
    if (body.startsWith("[")) {
      Object all = Json.parse(body);
      if (!(all instanceof List<?> l)) throw new IOException(file + ": expected a JSON array");
      items.addAll(l);
    } else {
      int n = 0;
      for (String line : body.split("\n")) {
        n++;
        if (line.isBlank()) continue;
        try {
          items.add(Json.parse(line));
        } catch (IllegalArgumentException e) {
          throw new IOException(file + ":" + n + ": " + e.getMessage(), e);
        }
      }
    }
    List<Example> out = new ArrayList<>();
    for (Object o : items) {
      if (!(o instanceof Map<?, ?> m) || !(m.get("text") instanceof String text)) continue;
      Object label = m.get(labelKey);
      if (label == null || String.valueOf(label).isEmpty()) continue;
      out.add(new Example(text, String.valueOf(label)));
    }
    if (out.isEmpty()) throw new IOException(file + ": no examples with \"text\" and \"" + labelKey + "\"");
    return out;
  }

  /** The distinct labels, sorted: the candidates of every prediction. */
  public static List<String> labels(List<Example> examples) {
    TreeSet<String> set = new TreeSet<>();
    for (Example e : examples) set.add(e.label());
    return List.copyOf(set);
  }

  /**
   * Text the tokenizer can encode: unchanged when it can, else without the characters it cannot (a
   * character-level vocabulary from another corpus lacks digits, say).
   */
  public static String fit(Tokenizer tokenizer, String text) {
    return ai.anvil.infer.PromptClassifier.fit(tokenizer, text);
  }

  /** Encodes example with the given label (its own, or a candidate) for sequences of at most block inputs. */
  public static Encoded encode(Tokenizer tokenizer, Example example, String label, String separator, int block,
                               List<String> labels) {
    int[] prompt = tokenizer.encode(fit(tokenizer, example.text() + separator));
    int[] lab = tokenizer.encode(fit(tokenizer, label));
    if (lab.length == 0) throw new IllegalArgumentException("label '" + label + "' has no tokens in this vocabulary");
    if (lab.length >= block) throw new IllegalArgumentException("label '" + label + "' is longer than the context " + block);
    int keep = block + 1 - lab.length;
    if (prompt.length > keep) prompt = java.util.Arrays.copyOfRange(prompt, prompt.length - keep, prompt.length);
    if (prompt.length == 0) throw new IllegalArgumentException("an example has an empty prompt");
    return new Encoded(prompt, lab, labels.indexOf(label));
  }
}
