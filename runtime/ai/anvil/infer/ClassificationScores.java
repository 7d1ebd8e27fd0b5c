package ai.anvil.infer;

import ai.anvil.metrics.Average;
import ai.anvil.metrics.Classification;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A classifier's figures on a held-out test set (fine-tuned, or prompted: {@link PromptClassifier}) beside the majority-class baseline (always answering
 * the label most frequent in the training data) and chance (1 / labels).
 *
 * @param macroF1 unweighted mean of the per-label F1 (scikit-learn average="macro")
 * @param positiveF1 F1 of the label "positive" when the labels are exactly negative and positive, else NaN
 */
public record ClassificationScores(int examples, double accuracy, double macroF1, double positiveF1, String majorityLabel,
                         double majorityAccuracy, double majorityMacroF1, double chance) {

  /** Scores predictions against truth; majority is the training set's most frequent label. */
  public static ClassificationScores of(List<String> truth, List<String> predicted, List<String> trainLabels) {
    if (truth.isEmpty()) throw new IllegalArgumentException("no test examples");
    String majority = majority(trainLabels);
    List<String> always = Collections.nCopies(truth.size(), majority);
    List<String> labels = new ArrayList<>(new java.util.TreeSet<>(trainLabels));
    boolean sentiment = labels.equals(List.of("negative", "positive"));
    return new ClassificationScores(truth.size(), Classification.accuracy(truth, predicted),
        Classification.precisionRecallF1(truth, predicted, Average.MACRO, null).f1(),
        sentiment ? Classification.precisionRecallF1(truth, predicted, Average.BINARY, "positive").f1() : Double.NaN,
        majority, Classification.accuracy(truth, always), Classification.precisionRecallF1(truth, always, Average.MACRO, null).f1(),
        1.0 / labels.size());
  }

  /** The most frequent label; ties go to the first in sorted order. */
  static String majority(List<String> labels) {
    Map<String, Integer> counts = new java.util.TreeMap<>();
    for (String l : labels) counts.merge(l, 1, Integer::sum);
    String best = null;
    for (Map.Entry<String, Integer> e : counts.entrySet()) if (best == null || e.getValue() > counts.get(best)) best = e.getKey();
    if (best == null) throw new IllegalArgumentException("no training labels");
    return best;
  }

  public Map<String, Object> toMap() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("test_examples", examples);
    m.put("test_accuracy", accuracy);
    m.put("test_macro_f1", macroF1);
    if (!Double.isNaN(positiveF1)) m.put("test_positive_f1", positiveF1);
    m.put("majority_label", majorityLabel);
    m.put("majority_accuracy", majorityAccuracy);
    m.put("majority_macro_f1", majorityMacroF1);
    m.put("chance", chance);
    return m;
  }
}
