package ai.anvil.data.tokenizer;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Map;
import java.util.OptionalInt;

/**
 * Text to token ids and back. Implementations are immutable after construction and safe to share between
 * threads. Ids lie in {@code [0, vocabSize())}.
 */
public interface Tokenizer {

    /** The ids of {@code text}. Special tokens written in the text (e.g. {@code <|endoftext|>}) become their ids. */
    int[] encode(String text);

    /** The text of {@code ids}; for byte-level vocabularies, bytes that do not form UTF-8 become U+FFFD. */
    String decode(int[] ids);

    /**
     * The UTF-8 bytes of {@code ids}. For byte-level vocabularies one token may hold part of a character, so
     * a streaming decoder collects bytes and emits whole characters.
     */
    default byte[] decodeBytes(int[] ids) {
        return decode(ids).getBytes(StandardCharsets.UTF_8);
    }

    /** One more than the largest id. */
    int vocabSize();

    /** The end-of-text token, when the vocabulary has one. */
    default OptionalInt eosId() {
        return OptionalInt.empty();
    }

    /** Special tokens, text to id; empty when there are none. */
    default Map<String, Integer> specialTokens() {
        return Map.of();
    }

    /** Writes this tokenizer as JSON that {@link Tokenizers#load(Path)} reads back. */
    void save(Path file) throws IOException;
}
