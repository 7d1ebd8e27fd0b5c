package ai.anvil.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class JsonTest {
  @Test
  void roundTripsEveryType() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("s", "a \"quoted\"\n\ttab \u0001 é 🙂");
    m.put("i", 42L);
    m.put("big", Long.MAX_VALUE);
    m.put("d", 1.0e-3);
    m.put("whole", 3.0);
    m.put("neg", -2.5e-17);
    m.put("t", true);
    m.put("n", null);
    m.put("list", List.of(1L, "x", List.of(), Map.of()));
    for (String text : new String[] {Json.write(m), Json.writePretty(m)}) {
      Map<String, Object> back = Json.parseObject(text);
      assertEquals(m, back, text);
      assertEquals(List.copyOf(m.keySet()), List.copyOf(back.keySet()), "key order is kept");
    }
  }

  @Test
  void doublesRoundTripExactly() {
    java.util.SplittableRandom r = new java.util.SplittableRandom(7);
    for (int i = 0; i < 1000; i++) {
      double d = Double.longBitsToDouble(r.nextLong());
      if (!Double.isFinite(d)) continue;
      assertEquals(d, (Double) ((List<?>) Json.parse(Json.write(List.of(d)))).get(0));
    }
  }

  @Test
  void nonFiniteWritesNull() {
    assertEquals("[null,null]", Json.write(List.of(Double.NaN, Double.POSITIVE_INFINITY)));
  }

  @Test
  void malformedInputNamesTheOffset() {
    for (String bad : new String[] {"{", "{\"a\" 1}", "[1,]", "tru", "{\"a\":1} x", "\"\\q\"", "01x"}) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Json.parse(bad), bad);
      assertTrue(e.getMessage().contains("offset"), e.getMessage());
    }
  }

  @Test
  void parsesUnicodeEscapesAndExponents() {
    assertEquals("é\u2603", Json.parse("\"\\u00e9\\u2603\""));
    assertEquals(1.5e10, Json.parse("1.5E+10"));
    assertEquals(-7L, Json.parse(" -7 "));
  }
}
