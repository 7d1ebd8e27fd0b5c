package ai.anvil.cli;

import ai.anvil.infer.ClassificationScores;
import ai.anvil.infer.LanguageModel;
import ai.anvil.infer.PromptClassifier;
import ai.anvil.io.Json;
import ai.anvil.train.checkpoint.Checkpoint;
import ai.anvil.train.finetune.Examples;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** Zero- and few-shot classification by prompting a causal LM (infer.PromptClassifier): one JSON line per k. */
@Command(name = "fewshot", mixinStandardHelpOptions = true,
    description = {"Classify labelled JSON lines by prompting a causal LM with k examples and no gradient step: each label is "
        + "scored by its log-likelihood after the prompt.",
        "Prints one JSON line per k: accuracy, macro F1, the majority-class baseline and chance."})
final class FewShotCommand implements Callable<Integer> {
  @Option(names = "--checkpoint", required = true, paramLabel = "DIR", description = "GPT checkpoint folder (or its run folder).")
  Path checkpoint;

  @Option(names = "--pool", required = true, paramLabel = "FILE", description = "Labelled examples the demonstrations are drawn from.")
  Path pool;

  @Option(names = "--test", required = true, paramLabel = "FILE", description = "Labelled examples to classify.")
  Path test;

  @Option(names = "--shots", split = ",", defaultValue = "0,1,4", paramLabel = "K", description = "Demonstrations per prompt (default 0,1,4).")
  List<Integer> shots;

  @Option(names = "--separator", defaultValue = " : ", paramLabel = "TEXT", description = "Between text and label (default \" : \").")
  String separator;

  @Option(names = "--label-key", defaultValue = "label", paramLabel = "KEY", description = "Field holding the label (default label).")
  String labelKey;

  @Option(names = "--limit", defaultValue = "0", paramLabel = "N", description = "Classify only the first N test examples, 0 for all.")
  int limit;

  @Option(names = "--calibrate", description = "Contextual calibration: subtract each label's log-likelihood after the same "
      + "demonstrations and the query \"N/A\" (Zhao et al. 2021).")
  boolean calibrate;

  @Option(names = "--seed", defaultValue = "1", paramLabel = "N", description = "Seed of the demonstration draws (default 1).")
  long seed;

  @Option(names = "--out", paramLabel = "FILE", description = "Also write the JSON lines here (a .jsonl in a run folder shows in its report).")
  Path outFile;

  @Mixin DeviceOptions device;

  @Override
  public Integer call() throws IOException {
    device.apply();
    List<PromptClassifier.Example> poolExamples = read(pool), tests = read(test);
    if (limit > 0 && limit < tests.size()) tests = tests.subList(0, limit);
    List<String> poolLabels = new ArrayList<>(), truth = new ArrayList<>();
    for (PromptClassifier.Example e : poolExamples) poolLabels.add(e.label());
    for (PromptClassifier.Example e : tests) truth.add(e.label());
    StringBuilder lines = new StringBuilder();
    try (LanguageModel lm = LanguageModel.load(Checkpoint.resolveModel(checkpoint), device.device())) {
      PromptClassifier classifier = new PromptClassifier(lm.model(), lm.tokenizer(), Examples.labels(asExamples(poolExamples)), separator);
      for (int k : shots) {
        long t0 = System.nanoTime();
        PromptClassifier.Result r = classifier.classify(tests, poolExamples, k, seed, calibrate);
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("k", k);
        out.put("calibrated", calibrate);
        out.putAll(ClassificationScores.of(truth, r.predicted(), poolLabels).toMap());
        out.put("truncated_prompts", r.truncatedShare());
        out.put("seconds", (System.nanoTime() - t0) / 1e9);
        System.out.println(Json.write(out));
        lines.append(Json.write(out)).append('\n');
      }
    }
    if (outFile != null) ai.anvil.io.AtomicFiles.writeString(outFile, lines.toString());
    return 0;
  }

  private List<PromptClassifier.Example> read(Path file) throws IOException {
    List<PromptClassifier.Example> out = new ArrayList<>();
    for (Examples.Example e : Examples.read(file, labelKey)) out.add(new PromptClassifier.Example(e.text(), e.label()));
    return out;
  }

  private static List<Examples.Example> asExamples(List<PromptClassifier.Example> xs) {
    List<Examples.Example> out = new ArrayList<>();
    for (PromptClassifier.Example e : xs) out.add(new Examples.Example(e.text(), e.label()));
    return out;
  }
}
