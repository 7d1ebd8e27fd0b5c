package ai.anvil.io;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The safetensors format (Hugging Face): an 8-byte little-endian header length, a JSON header mapping
 * each tensor name to {@code {"dtype", "shape", "data_offsets": [begin, end]}} (offsets relative to the
 * end of the header) plus an optional {@code "__metadata__"} map of strings, then the raw little-endian
 * data. This reads F32, F16 and BF16 (widened to float) and I32/I64, and writes F32 and I32.
 */
public final class Safetensors {
  private static final long MAX_HEADER = 100L << 20;

  private Safetensors() {}

  /** One stored tensor: dtype name as in the file (F32, BF16, ...), shape, byte range in the data area. */
  public record Entry(String name, String dtype, long[] shape, long begin, long end) {
    public long numel() {
      long n = 1;
      for (long d : shape) n *= d;
      return n;
    }
  }

  // ---- reading ----------------------------------------------------------------------------------

  /**
   * An open safetensors file; tensors are read on demand. Opening checks the whole header: every entry
   * has a known dtype, a non-negative integer shape and offsets whose length matches that shape and
   * dtype and which lie inside the file, and no two entries overlap; any failure is an IOException
   * naming the file and the tensor.
   */
  public static final class Reader implements AutoCloseable {
    private final Path path;
    private final FileChannel channel;
    private final long dataStart;
    private final Map<String, Entry> entries;
    private final Map<String, String> metadata;

    private Reader(Path path) throws IOException {
      this.path = path;
      this.channel = FileChannel.open(path, StandardOpenOption.READ);
      try {
        ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        readFully(0, len);
        long n = len.getLong(0);
        if (n < 2 || n > MAX_HEADER || 8 + n > channel.size()) {
          throw new IOException(path + ": not a safetensors file (header length " + n + ", file " + channel.size() + " bytes)");
        }
        ByteBuffer header = ByteBuffer.allocate((int) n);
        readFully(8, header);
        this.dataStart = 8 + n;
        Map<String, Object> json;
        try {
          json = Json.parseObject(new String(header.array(), StandardCharsets.UTF_8));
        } catch (IllegalArgumentException e) {
          throw new IOException(path + ": bad safetensors header: " + e.getMessage(), e);
        }
        Map<String, Entry> es = new LinkedHashMap<>();
        Map<String, String> meta = new LinkedHashMap<>();
        long dataSize = channel.size() - dataStart;
        for (Map.Entry<String, Object> e : json.entrySet()) {
          if (e.getKey().equals("__metadata__")) {
            if (e.getValue() instanceof Map<?, ?> m) m.forEach((k, v) -> meta.put(String.valueOf(k), String.valueOf(v)));
            continue;
          }
          es.put(e.getKey(), entry(e.getKey(), e.getValue(), dataSize));
        }
        checkDisjoint(es);
        this.entries = Collections.unmodifiableMap(es);
        this.metadata = Collections.unmodifiableMap(meta);
      } catch (IOException | RuntimeException e) {
        channel.close();
        throw e;
      }
    }

    private Entry entry(String name, Object value, long dataSize) throws IOException {
      if (!(value instanceof Map<?, ?> m)) throw new IOException(path + ": entry " + name + " is not an object");
      Object dtype = m.get("dtype"), shape = m.get("shape"), offsets = m.get("data_offsets");
      if (!(dtype instanceof String) || !(shape instanceof List<?> s) || !(offsets instanceof List<?> o) || o.size() != 2) {
        throw new IOException(path + ": entry " + name + " lacks dtype, shape or data_offsets");
      }
      int bytes = dtypeBytes((String) dtype);
      if (bytes == 0) throw new IOException(path + ": tensor " + name + " has unknown dtype " + dtype);
      long[] dims = new long[s.size()];
      long numel = 1;
      long expected;
      try {
        for (int i = 0; i < dims.length; i++) {
          dims[i] = natural(s.get(i), name, "shape");
          numel = Math.multiplyExact(numel, dims[i]);
        }
        expected = Math.multiplyExact(numel, bytes);
      } catch (ArithmeticException e) {
        throw new IOException(path + ": tensor " + name + " has an impossible shape " + s);
      }
      long begin = natural(o.get(0), name, "data_offsets"), end = natural(o.get(1), name, "data_offsets");
      Entry entry = new Entry(name, (String) dtype, dims, begin, end);
      if (end < begin || end > dataSize || end - begin != expected) {
        throw new IOException(path + ": entry " + name + " " + dtype + " " + java.util.Arrays.toString(dims)
            + " (" + expected + " bytes) has data_offsets [" + begin + ", " + end + ") that do not fit (data area "
            + dataSize + " bytes)");
      }
      return entry;
    }

    /** A non-negative integer of the header, or an IOException naming the tensor. */
    private long natural(Object v, String name, String field) throws IOException {
      if (!(v instanceof Number n) || n.doubleValue() != Math.rint(n.doubleValue()) || n.doubleValue() < 0
          || n.doubleValue() > Long.MAX_VALUE / 8) {
        throw new IOException(path + ": tensor " + name + " has a bad " + field + " value " + v);
      }
      return n.longValue();
    }

    /** Tensors whose byte ranges overlap mean the header lies about offsets. */
    private void checkDisjoint(Map<String, Entry> es) throws IOException {
      List<Entry> sorted = new ArrayList<>(es.values());
      sorted.sort(java.util.Comparator.comparingLong(Entry::begin).thenComparingLong(Entry::end));
      Entry reach = null;                        // the entry reaching furthest so far
      for (Entry b : sorted) {
        if (b.end() == b.begin()) continue;      // empty tensors occupy no bytes
        if (reach != null && b.begin() < reach.end()) {
          throw new IOException(path + ": tensors " + reach.name() + " [" + reach.begin() + ", " + reach.end() + ") and "
              + b.name() + " [" + b.begin() + ", " + b.end() + ") overlap");
        }
        if (reach == null || b.end() > reach.end()) reach = b;
      }
    }

    public static Reader open(Path path) throws IOException {
      return new Reader(path);
    }

    /** Tensors by name, in file order. */
    public Map<String, Entry> entries() {
      return entries;
    }

    /** The {@code __metadata__} strings (empty when absent). */
    public Map<String, String> metadata() {
      return metadata;
    }

    public Entry entry(String name) {
      Entry e = entries.get(name);
      if (e == null) throw new IllegalArgumentException(path + ": no tensor named " + name);
      return e;
    }

    /** The values of a floating-point tensor as fp32 (BF16 and F16 widened exactly). */
    public float[] floats(String name) throws IOException {
      Entry e = entry(name);
      int n = Math.toIntExact(e.numel());
      ByteBuffer raw = raw(e);
      float[] out = new float[n];
      switch (e.dtype()) {
        case "F32" -> raw.asFloatBuffer().get(out);
        case "BF16" -> {
          for (int i = 0; i < n; i++) out[i] = Float.intBitsToFloat((raw.getShort(2 * i) & 0xffff) << 16);
        }
        case "F16" -> {
          for (int i = 0; i < n; i++) out[i] = halfToFloat(raw.getShort(2 * i));
        }
        default -> throw new IllegalArgumentException(path + ": tensor " + name + " is " + e.dtype() + ", not floating point");
      }
      return out;
    }

    /** The values of an integer tensor (I32, or I64 narrowed with a range check). */
    public int[] ints(String name) throws IOException {
      Entry e = entry(name);
      int n = Math.toIntExact(e.numel());
      ByteBuffer raw = raw(e);
      int[] out = new int[n];
      switch (e.dtype()) {
        case "I32" -> raw.asIntBuffer().get(out);
        case "I64" -> {
          for (int i = 0; i < n; i++) out[i] = Math.toIntExact(raw.getLong(8 * i));
        }
        default -> throw new IllegalArgumentException(path + ": tensor " + name + " is " + e.dtype() + ", not I32/I64");
      }
      return out;
    }

    private ByteBuffer raw(Entry e) throws IOException {
      ByteBuffer buf = ByteBuffer.allocate(Math.toIntExact(e.end() - e.begin())).order(ByteOrder.LITTLE_ENDIAN);
      readFully(dataStart + e.begin(), buf);
      return buf.flip().order(ByteOrder.LITTLE_ENDIAN);
    }

    private void readFully(long at, ByteBuffer buf) throws IOException {
      while (buf.hasRemaining()) {
        int r = channel.read(buf, at);
        if (r < 0) throw new IOException(path + ": unexpected end of file");
        at += r;
      }
    }

    @Override
    public void close() throws IOException {
      channel.close();
    }
  }

  /** IEEE binary16 to float, exactly (Float.float16ToFloat needs Java 20). */
  static float halfToFloat(short h) {
    int bits = h & 0xffff;
    int sign = (bits & 0x8000) << 16;
    int exp = (bits >>> 10) & 0x1f;
    int mant = bits & 0x3ff;
    if (exp == 0x1f) return Float.intBitsToFloat(sign | 0x7f800000 | (mant << 13));
    if (exp == 0) {
      float v = mant * 0x1p-24f;
      return sign != 0 ? -v : v;
    }
    return Float.intBitsToFloat(sign | ((exp + 112) << 23) | (mant << 13));
  }

  /** Bytes per element of a safetensors dtype, 0 when the dtype is unknown. */
  private static int dtypeBytes(String dtype) {
    return switch (dtype) {
      case "F64", "I64", "U64" -> 8;
      case "F32", "I32", "U32" -> 4;
      case "F16", "BF16", "I16", "U16" -> 2;
      case "I8", "U8", "BOOL", "F8_E4M3", "F8_E5M2" -> 1;
      default -> 0;
    };
  }

  // ---- writing ----------------------------------------------------------------------------------

  /** Collects tensors (F32 or I32) and metadata, then writes them in one atomic file replacement. */
  public static final class Writer {
    private record Pending(String name, String dtype, long[] shape, Object data) {}

    private final List<Pending> tensors = new ArrayList<>();
    private final Map<String, String> metadata = new LinkedHashMap<>();

    public Writer add(String name, float[] data, long... shape) {
      check(name, data.length, shape);
      tensors.add(new Pending(name, "F32", shape.clone(), data));
      return this;
    }

    public Writer addInts(String name, int[] data, long... shape) {
      check(name, data.length, shape);
      tensors.add(new Pending(name, "I32", shape.clone(), data));
      return this;
    }

    public Writer metadata(String key, String value) {
      metadata.put(key, value);
      return this;
    }

    private void check(String name, int length, long[] shape) {
      if (name.equals("__metadata__")) throw new IllegalArgumentException("safetensors: reserved name " + name);
      for (Pending p : tensors) {
        if (p.name.equals(name)) throw new IllegalArgumentException("safetensors: duplicate tensor " + name);
      }
      long n = 1;
      for (long d : shape) n *= d;
      if (n != length) {
        throw new IllegalArgumentException("safetensors: " + name + " has " + length + " values for shape "
            + java.util.Arrays.toString(shape));
      }
    }

    /** Writes the file atomically (AtomicFiles): the previous file survives any failure. */
    public void write(Path path) throws IOException {
      AtomicFiles.write(path, this::writeTo);
    }

    /** Writes the whole file to a channel positioned at its start. */
    public void writeTo(FileChannel out) throws IOException {
      Map<String, Object> header = new LinkedHashMap<>();
      if (!metadata.isEmpty()) header.put("__metadata__", new LinkedHashMap<>(metadata));
      long offset = 0;
      for (Pending p : tensors) {
        long bytes = 4L * (p.data instanceof float[] f ? f.length : ((int[]) p.data).length);
        Map<String, Object> e = new LinkedHashMap<>();
        e.put("dtype", p.dtype);
        List<Object> shape = new ArrayList<>();
        for (long d : p.shape) shape.add(d);
        e.put("shape", shape);
        e.put("data_offsets", List.of(offset, offset + bytes));
        header.put(p.name, e);
        offset += bytes;
      }
      byte[] json = Json.write(header).getBytes(StandardCharsets.UTF_8);
      int padded = (json.length + 7) / 8 * 8;
      ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
      head.putLong(padded).put(json);
      while (head.hasRemaining()) head.put((byte) ' ');
      AtomicFiles.writeFully(out, head.flip());
      ByteBuffer chunk = ByteBuffer.allocate(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
      for (Pending p : tensors) {
        if (p.data instanceof float[] f) {
          for (int at = 0; at < f.length; ) {
            int n = Math.min(f.length - at, chunk.capacity() / 4);
            chunk.clear();
            FloatBuffer fb = chunk.asFloatBuffer();
            fb.put(f, at, n);
            chunk.limit(4 * n);
            AtomicFiles.writeFully(out, chunk);
            at += n;
          }
        } else {
          int[] a = (int[]) p.data;
          for (int at = 0; at < a.length; ) {
            int n = Math.min(a.length - at, chunk.capacity() / 4);
            chunk.clear();
            chunk.asIntBuffer().put(a, at, n);
            chunk.limit(4 * n);
            AtomicFiles.writeFully(out, chunk);
            at += n;
          }
        }
      }
    }
  }
}
