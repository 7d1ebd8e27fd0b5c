package ai.anvil.data.tokenizer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/** Chooses and loads tokenizers by the names the CLI and checkpoints use. */
public final class Tokenizers {
    private Tokenizers() {}

    /**
     * {@code "char"}: a {@link CharTokenizer} over {@code corpus}; {@code "gpt2"}: GPT-2's BPE from the fetch
     * cache {@code cacheDir}; anything else: a file or folder for {@link #load(Path)}.
     */
    public static Tokenizer forSpec(String spec, String corpus, Path cacheDir) throws IOException {
        return switch (spec) {
            case "char" -> {
                if (corpus == null) {
                    throw new IllegalArgumentException("the char tokenizer needs the corpus to take its vocabulary from");
                }
                yield CharTokenizer.fromText(corpus);
            }
            case "gpt2" -> BpeTokenizer.gpt2(cacheDir);
            default -> load(Path.of(spec));
        };
    }

    /**
     * A saved tokenizer: a {@link CharTokenizer} JSON file, a Hugging Face {@code tokenizer.json} (byte-level
     * BPE or WordPiece), or a folder holding a {@code tokenizer.json} or GPT-2's files (see
     * {@link BpeTokenizer#load}).
     */
    public static Tokenizer load(Path path) throws IOException {
        if (!Files.exists(path)) {
            throw new IllegalArgumentException("no tokenizer at " + path);
        }
        if (Files.isDirectory(path) && Files.isRegularFile(path.resolve("tokenizer.json"))) {
            path = path.resolve("tokenizer.json");
        }
        if (Files.isRegularFile(path)) {
            Object json = Json.parse(BpeFiles.read(path), path.toString());
            if (json instanceof Map<?, ?> m && CharTokenizer.TYPE.equals(m.get("type"))) {
                return CharTokenizer.fromJson(json, path.toString());
            }
            if (WordPieceTokenizer.isWordPiece(json)) {
                return WordPieceTokenizer.fromHuggingFace(json, path.toString());
            }
            return BpeFiles.fromHuggingFace(json, path.toString());
        }
        return BpeTokenizer.load(path);
    }
}
