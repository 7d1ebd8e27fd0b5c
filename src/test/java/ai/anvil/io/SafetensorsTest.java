package ai.anvil.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafetensorsTest {
  @TempDir Path dir;

  @Test
  void writesAndReadsF32I32AndMetadata() throws IOException {
    float[] w = {1f, -2.5f, 3.25f, Float.MIN_VALUE, Float.MAX_VALUE, -0f};
    int[] ids = {7, -1, Integer.MAX_VALUE};
    Path file = dir.resolve("a.safetensors");
    new Safetensors.Writer().add("h.0.w", w, 2, 3).addInts("ids", ids, 3).add("scalar", new float[] {9f})
        .metadata("format", "pt").write(file);
    try (Safetensors.Reader r = Safetensors.Reader.open(file)) {
      assertEquals(List.of("h.0.w", "ids", "scalar"), List.copyOf(r.entries().keySet()));
      assertArrayEquals(new long[] {2, 3}, r.entry("h.0.w").shape());
      assertArrayEquals(w, r.floats("h.0.w"));
      assertArrayEquals(ids, r.ints("ids"));
      assertArrayEquals(new long[0], r.entry("scalar").shape());
      assertArrayEquals(new float[] {9f}, r.floats("scalar"));
      assertEquals("pt", r.metadata().get("format"));
      assertThrows(IllegalArgumentException.class, () -> r.floats("ids"));
      assertThrows(IllegalArgumentException.class, () -> r.floats("missing"));
    }
  }

  @Test
  void headerIsPaddedToEightBytes() throws IOException {
    Path file = dir.resolve("p.safetensors");
    new Safetensors.Writer().add("x", new float[] {1f}, 1).write(file);
    ByteBuffer head = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
    assertEquals(0, head.getLong(0) % 8);
  }

  /** BF16 and F16 files (as PyTorch writes them) widen exactly. */
  @Test
  void readsBf16AndF16() throws IOException {
    // 1.0, -2.0, 0.5 in bf16 (0x3f80, 0xc000, 0x3f00) and f16 (0x3c00, 0xc000, 0x3800), plus f16 subnormal 0x0001.
    String header = "{\"b\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[0,6]},"
        + "\"h\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[6,14]}}";
    byte[] json = header.getBytes(StandardCharsets.UTF_8);
    ByteBuffer buf = ByteBuffer.allocate(8 + json.length + 14).order(ByteOrder.LITTLE_ENDIAN);
    buf.putLong(json.length).put(json);
    for (int s : new int[] {0x3f80, 0xc000, 0x3f00, 0x3c00, 0xc000, 0x3800, 0x0001}) buf.putShort((short) s);
    Path file = dir.resolve("half.safetensors");
    Files.write(file, buf.array());
    try (Safetensors.Reader r = Safetensors.Reader.open(file)) {
      assertArrayEquals(new float[] {1f, -2f, 0.5f}, r.floats("b"));
      assertArrayEquals(new float[] {1f, -2f, 0.5f, 0x1p-24f}, r.floats("h"));
    }
  }

  @Test
  void rejectsTruncatedAndInconsistentFiles() throws IOException {
    Path file = dir.resolve("t.safetensors");
    new Safetensors.Writer().add("x", new float[] {1, 2, 3, 4}, 4).write(file);
    byte[] all = Files.readAllBytes(file);
    Path cut = dir.resolve("cut.safetensors");
    Files.write(cut, java.util.Arrays.copyOf(all, all.length - 4));
    assertThrows(IOException.class, () -> Safetensors.Reader.open(cut).close());
    Path junk = dir.resolve("junk.safetensors");
    Files.write(junk, new byte[] {1, 2, 3});
    assertThrows(IOException.class, () -> Safetensors.Reader.open(junk).close());
  }

  @Test
  void writerChecksShapes() {
    Safetensors.Writer w = new Safetensors.Writer().add("a", new float[2], 2);
    assertThrows(IllegalArgumentException.class, () -> w.add("a", new float[2], 2));
    assertThrows(IllegalArgumentException.class, () -> w.add("b", new float[3], 2));
    assertThrows(IllegalArgumentException.class, () -> w.add("__metadata__", new float[1], 1));
  }
}
