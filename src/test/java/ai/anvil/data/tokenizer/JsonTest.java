package ai.anvil.data.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class JsonTest {

    @Test
    void parsesValues() {
        Object v = Json.parse(" {\"a\": [1, -2.5e3, true, false, null, \"x\\u00e9\\n\\\"\"], \"b\": {}} ", "t");
        assertEquals(Map.of("a", Arrays.asList(1L, -2500.0, true, false, null, "xé\n\""), "b", Map.of()), v);
    }

    @Test
    void quoteRoundTrips() {
        for (String s : List.of("", "plain", "q\"b\\s", "\n\t\r\b\f\u0001\u007f", "Ġé🐋", "\ud83d lone")) {
            assertEquals(s, Json.parse(Json.quote(s), "t"));
        }
    }

    @Test
    void errorsNameSourceLineAndColumn() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Json.parse("{\n  \"a\": 1,\n  \"b\" 2\n}", "vocab.json"));
        assertEquals("vocab.json:3:7: bad JSON: expected ':'", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Json.parse("[1, 2", "f"));
        assertTrue(e.getMessage().startsWith("f:1:6:"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Json.parse("{} x", "f"));
        assertThrows(IllegalArgumentException.class, () -> Json.parse("\"abc", "f"));
    }
}
