package ai.anvil.train.seq2seq;

import ai.anvil.train.TrainConfig;
import java.util.List;

/**
 * A seq2seq fine-tuning run on parallel verses ({@link Seq2seqFinetuning}).
 *
 * @param sourceTsv verses to translate from (a {@code fetch} TSV: book, chapter, verse, text)
 * @param targetTsv verses to translate into
 * @param base a T5 checkpoint folder (or run folder) from {@code pretrain --objective span}; its tokenizer is used
 * @param method {@code full} (every weight trains) or {@code lora} (the base frozen, LoRA on loraTargets)
 * @param loraRank LoRA rank r
 * @param loraAlpha LoRA alpha (scaling alpha / r)
 * @param loraTargets Linear layers by name suffix (T5's q, k, v, o, wi, wo) or "all-linear"
 * @param valBooks whole books for validation loss
 * @param testBooks whole books for BLEU and ROUGE, never trained or validated on
 * @param maxChars pairs whose source or target is longer (in characters) are left out
 * @param testLimit the first this many test pairs are decoded and scored (0: all)
 */
public record Seq2seqConfig(String sourceTsv, String targetTsv, String base, String method, int loraRank, double loraAlpha,
                            List<String> loraTargets, List<String> valBooks, List<String> testBooks, int maxChars,
                            int batchSize, int maxSteps, double lr, int warmupSteps, int evalInterval, int evalIters,
                            int testLimit, long seed, String device, int threads, String out) {
  public static final List<String> METHODS = List.of("full", "lora");

  public Seq2seqConfig {
    if (sourceTsv == null || targetTsv == null) throw new IllegalArgumentException("seq2seq: source and target TSV files are required");
    if (base == null) throw new IllegalArgumentException("seq2seq: a base T5 checkpoint is required (pretrain --objective span)");
    if (!METHODS.contains(method)) throw new IllegalArgumentException("seq2seq: method must be one of " + METHODS + ", got " + method);
    if (loraRank < 1 || !(loraAlpha > 0)) throw new IllegalArgumentException("seq2seq: lora rank >= 1 and alpha > 0 required");
    if (loraTargets == null || loraTargets.isEmpty()) throw new IllegalArgumentException("seq2seq: lora targets must name layers");
    if (testBooks == null || testBooks.isEmpty()) throw new IllegalArgumentException("seq2seq: at least one test book is required");
    if (valBooks == null || valBooks.isEmpty()) throw new IllegalArgumentException("seq2seq: at least one validation book is required");
    if (maxChars < 1 || testLimit < 0) throw new IllegalArgumentException("seq2seq: max chars >= 1 and test limit >= 0 required");
    if (out == null || out.isBlank()) throw new IllegalArgumentException("seq2seq: out must name a folder");
    loraTargets = List.copyOf(loraTargets);
    valBooks = List.copyOf(valBooks);
    testBooks = List.copyOf(testBooks);
  }

  /** KJV to WEB from the fetch cache: Ruth, Jonah, Mark and Philippians tested, Esther and Colossians validated. */
  public static Seq2seqConfig kjvToWeb(String cacheDir, String base, String method, String out) {
    return new Seq2seqConfig(cacheDir + "/corpora/kjv/kjv.tsv", cacheDir + "/corpora/web/web.tsv", base, method, 8, 16,
        List.of("q", "v"), List.of("Esther", "Colossians"), List.of("Ruth", "Jonah", "Mark", "Philippians"), 96, 16, 300,
        1e-3, 30, 100, 10, 200, 1337, "auto", 0, out);
  }

  /**
   * The trainer's settings for this run: batch, steps, lr (cosine to lr/10 after warmup), evaluation
   * cadence, AdamW (0.9, 0.99, weight decay 0.01), clip 1; block_size is the base's n_positions (tokens per
   * step count source positions of full rows).
   */
  TrainConfig trainConfig(int nPositions) {
    return TrainConfig.defaults().with("batch_size", batchSize, "grad_accum", 1, "lr", lr, "warmup_steps", warmupSteps,
        "max_steps", maxSteps, "eval_interval", evalInterval, "eval_iters", evalIters, "weight_decay", 0.01,
        "seed", seed, "device", device, "threads", threads, "out", out, "block_size", nPositions, "sample_tokens", 0,
        "dropout", 0.0);
  }
}
