package ai.anvil.io.onnx;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * A reader of the protocol-buffers wire format over a byte range, just enough for ONNX: fields are read
 * in order as (number, wire type) tags followed by a varint, a fixed 32/64-bit value or a length-delimited
 * slice (a nested message, a string, bytes or a packed repeated field). Slices share the buffer, so a
 * 90 MB initializer is never copied. Malformed input (a varint past 10 bytes, a length past the end, an
 * unknown wire type) is an IOException saying where.
 */
final class Protobuf {
  static final int VARINT = 0, FIXED64 = 1, LEN = 2, FIXED32 = 5;

  private final ByteBuffer buf;     // little-endian, position = next byte, limit = end of this message
  private final String what;
  private int tag;

  Protobuf(ByteBuffer buf, String what) {
    this.buf = buf.slice().order(ByteOrder.LITTLE_ENDIAN);
    this.what = what;
  }

  /** Advances to the next field; false at the end of the message. */
  boolean next() throws IOException {
    if (!buf.hasRemaining()) return false;
    long t = varint();
    if (t >>> 3 == 0 || t > Integer.MAX_VALUE) throw error("bad field tag " + t);
    tag = (int) t;
    return true;
  }

  int field() {
    return tag >>> 3;
  }

  int wireType() {
    return tag & 7;
  }

  long varint() throws IOException {
    long v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (!buf.hasRemaining()) throw error("truncated varint");
      byte b = buf.get();
      v |= (long) (b & 0x7f) << shift;
      if (b >= 0) return v;
    }
    throw error("varint longer than 10 bytes");
  }

  int fixed32() throws IOException {
    need(4);
    return buf.getInt();
  }

  long fixed64() throws IOException {
    need(8);
    return buf.getLong();
  }

  /** The bytes of a length-delimited field, as a little-endian view. */
  ByteBuffer bytes() throws IOException {
    long n = varint();
    if (n < 0 || n > buf.remaining()) throw error("length " + n + " runs past the end (" + buf.remaining() + " bytes left)");
    ByteBuffer out = buf.slice().order(ByteOrder.LITTLE_ENDIAN);
    out.limit((int) n);
    buf.position(buf.position() + (int) n);
    return out;
  }

  String string() throws IOException {
    ByteBuffer b = bytes();
    byte[] a = new byte[b.remaining()];
    b.get(a);
    return new String(a, StandardCharsets.UTF_8);
  }

  /** A nested message of a length-delimited field. */
  Protobuf message(String name) throws IOException {
    return new Protobuf(bytes(), what + "." + name);
  }

  /** Skips the current field's value. */
  void skip() throws IOException {
    switch (wireType()) {
      case VARINT -> varint();
      case FIXED64 -> {
        need(8);
        buf.position(buf.position() + 8);
      }
      case LEN -> bytes();
      case FIXED32 -> {
        need(4);
        buf.position(buf.position() + 4);
      }
      default -> throw error("unsupported wire type " + wireType() + " of field " + field());
    }
  }

  /** One value, or all values of a packed run, of a repeated varint field, appended to out. */
  void varints(LongList out) throws IOException {
    if (wireType() == LEN) {
      Protobuf packed = new Protobuf(bytes(), what);
      while (packed.buf.hasRemaining()) out.add(packed.varint());
    } else {
      out.add(varint());
    }
  }

  /** One value, or a packed run, of a repeated float field, appended to out. */
  void floats(FloatList out) throws IOException {
    if (wireType() == LEN) {
      ByteBuffer b = bytes();
      if (b.remaining() % 4 != 0) throw error("packed floats of " + b.remaining() + " bytes");
      while (b.hasRemaining()) out.add(b.getFloat());
    } else {
      out.add(Float.intBitsToFloat(fixed32()));
    }
  }

  private void need(int n) throws IOException {
    if (buf.remaining() < n) throw error("truncated fixed-width value");
  }

  IOException error(String message) {
    return new IOException("protobuf " + what + " at byte " + buf.position() + ": " + message);
  }

  /** A growable long array. */
  static final class LongList {
    long[] a = new long[8];
    int n;

    void add(long v) {
      if (n == a.length) a = java.util.Arrays.copyOf(a, 2 * n);
      a[n++] = v;
    }

    long[] toArray() {
      return java.util.Arrays.copyOf(a, n);
    }
  }

  /** A growable float array. */
  static final class FloatList {
    float[] a = new float[8];
    int n;

    void add(float v) {
      if (n == a.length) a = java.util.Arrays.copyOf(a, 2 * n);
      a[n++] = v;
    }

    float[] toArray() {
      return java.util.Arrays.copyOf(a, n);
    }
  }
}
