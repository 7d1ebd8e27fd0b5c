package ai.anvil.infer;

import ai.anvil.metrics.Distinct;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Generation quality of a causal LM without a reference model: sample continuations of prompts, then
 * report their diversity (distinct-1/2 over whitespace words, Li et al. 2016) and their perplexity under
 * the model itself, beside the same figures of real text cut to the same length, so that the numbers
 * have something to be read against. A sampler that repeats itself shows low distinct-n; one far from
 * the model's distribution (too hot) shows a self-perplexity well above the real text's.
 *
 * @param samples the generated continuations (prompts excluded)
 * @param distinct1 distinct-1 of the samples
 * @param distinct2 distinct-2 of the samples
 * @param samplePerplexity token-weighted perplexity of the samples under the model, each sample scored on
 *     its own from its second token (as the references are, so the two compare)
 * @param referenceDistinct1 distinct-1 of the reference texts
 * @param referenceDistinct2 distinct-2 of the reference texts
 * @param referencePerplexity perplexity of the reference texts under the model
 */
public record SampleQuality(List<String> samples, double distinct1, double distinct2, double samplePerplexity,
                            double referenceDistinct1, double referenceDistinct2, double referencePerplexity) {

  /**
   * Samples one continuation of each prompt with config (its seed advanced per prompt) and scores it;
   * references are real texts (each scored on its own) to compare against.
   */
  public static SampleQuality measure(LanguageModel lm, List<String> prompts, SamplingConfig config, List<String> references) {
    if (prompts.isEmpty()) throw new IllegalArgumentException("no prompts to sample from");
    if (references.isEmpty()) throw new IllegalArgumentException("no reference texts");
    List<String> samples = new ArrayList<>();
    Score sampleScore = Score.EMPTY;
    for (int i = 0; i < prompts.size(); i++) {
      SamplingConfig c = new SamplingConfig(config.maxTokens(), config.temperature(), config.topK(), config.topP(),
          config.seed() + i, config.stopStrings(), config.stopTokens(), config.stopAtEos());
      Generation g = lm.generate(prompts.get(i), c);
      samples.add(g.text());
      sampleScore = sampleScore.plus(lm.scorer().score(g.tokens()));
    }
    Score refScore = Score.EMPTY;
    for (String r : references) refScore = refScore.plus(lm.scorer().score(lm.tokenizer().encode(r)));
    return new SampleQuality(samples, Distinct.ofTexts(samples, 1), Distinct.ofTexts(samples, 2), sampleScore.perplexity(),
        Distinct.ofTexts(references, 1), Distinct.ofTexts(references, 2), refScore.perplexity());
  }

  /** The figures without the samples, for a JSON line. */
  public Map<String, Object> toMap() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("samples", samples.size());
    m.put("distinct_1", distinct1);
    m.put("distinct_2", distinct2);
    m.put("sample_perplexity", samplePerplexity);
    m.put("reference_distinct_1", referenceDistinct1);
    m.put("reference_distinct_2", referenceDistinct2);
    m.put("reference_perplexity", referencePerplexity);
    return m;
  }
}
