package ai.anvil.tensor;

/** bfloat16 conversions: the top 16 bits of an fp32, rounded to nearest even. */
public final class BFloat16 {
  private BFloat16() {}

  public static short fromFloat(float value) {
    int bits = Float.floatToRawIntBits(value);
    if (Float.isNaN(value)) return (short) ((bits >>> 16) | 0x40);
    int rounding = 0x7FFF + ((bits >>> 16) & 1);
    return (short) ((bits + rounding) >>> 16);
  }

  public static float toFloat(short value) {
    return Float.intBitsToFloat((value & 0xFFFF) << 16);
  }

  /** value rounded to the nearest bf16, as a float. */
  public static float round(float value) {
    return toFloat(fromFloat(value));
  }
}
