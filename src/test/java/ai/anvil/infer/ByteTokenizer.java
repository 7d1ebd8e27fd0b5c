package ai.anvil.infer;

import ai.anvil.data.tokenizer.Tokenizer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.OptionalInt;

/**
 * A test tokenizer with one token per UTF-8 byte (ids 0..255) plus id 256, and optionally one of its ids
 * named end-of-text: the simplest byte-level vocabulary, where a character of several bytes spans
 * several tokens.
 */
final class ByteTokenizer implements Tokenizer {
  private final int eos;

  /** eos: the end-of-text id, or -1 for none. */
  ByteTokenizer(int eos) {
    this.eos = eos;
  }

  @Override
  public int[] encode(String text) {
    byte[] b = text.getBytes(StandardCharsets.UTF_8);
    int[] ids = new int[b.length];
    for (int i = 0; i < b.length; i++) ids[i] = b[i] & 0xff;
    return ids;
  }

  @Override
  public byte[] decodeBytes(int[] ids) {
    byte[] b = new byte[ids.length];
    int n = 0;
    for (int id : ids) if (id < 256) b[n++] = (byte) id;
    return java.util.Arrays.copyOf(b, n);
  }

  @Override
  public String decode(int[] ids) {
    return new String(decodeBytes(ids), StandardCharsets.UTF_8);
  }

  @Override
  public int vocabSize() {
    return 257;
  }

  @Override
  public OptionalInt eosId() {
    return eos >= 0 ? OptionalInt.of(eos) : OptionalInt.empty();
  }

  @Override
  public void save(Path file) {
    throw new UnsupportedOperationException("test tokenizer");
  }
}
