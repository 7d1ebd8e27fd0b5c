package ai.anvil.metrics;

import java.math.BigDecimal;
import java.math.RoundingMode;

/**
 * A BLEU result with sacreBLEU's fields: {@code score} on the 0-100 scale, matched and total n-gram
 * counts for orders 1..4, the (smoothed) precisions in percent, the brevity penalty, the summed
 * hypothesis length and closest-reference length, and the signature that says how it was computed.
 */
public record BleuScore(double score, long[] counts, long[] totals, double[] precisions, double bp, long sysLen,
    long refLen, String signature) {

  /** sys_len / ref_len, 0 when there is no reference text (as sacreBLEU). */
  public double ratio() {
    return refLen == 0 ? 0 : (double) sysLen / refLen;
  }

  /**
   * sacreBLEU's verbose part, e.g. {@code 66.7/40.0/25.0/14.3 (BP = 1.000 ratio = 1.000 hyp_len = 6
   * ref_len = 6)}; numbers rounded as Python's format does (the exact binary value, half to even).
   */
  public String verbose() {
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < precisions.length; i++) {
      if (i > 0) sb.append('/');
      sb.append(fixed(precisions[i], 1));
    }
    return sb + " (BP = " + fixed(bp, 3) + " ratio = " + fixed(ratio(), 3) + " hyp_len = " + sysLen
        + " ref_len = " + refLen + ")";
  }

  /** sacreBLEU's one-line report, e.g. {@code BLEU|nrefs:1|...|version:2.6.0 = 32.53 66.7/...}. */
  @Override
  public String toString() {
    return "BLEU|" + signature + " = " + fixed(score, 2) + " " + verbose();
  }

  static String fixed(double v, int digits) {
    return new BigDecimal(v).setScale(digits, RoundingMode.HALF_EVEN).toPlainString();
  }
}
