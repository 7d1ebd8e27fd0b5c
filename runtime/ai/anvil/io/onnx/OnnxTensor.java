package ai.anvil.io.onnx;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * An ONNX TensorProto: an initializer or a Constant's value. Its data stays where the parser found it
 * (a view of the file's raw_data, or the typed float_data / int32_data / int64_data / double_data
 * arrays) and is decoded on demand.
 */
public final class OnnxTensor {
  public static final int FLOAT = 1, INT32 = 6, INT64 = 7, FLOAT16 = 10, DOUBLE = 11, BFLOAT16 = 16;

  private final String name;
  private final int dataType;
  private final long[] dims;
  private final ByteBuffer raw;        // little-endian view, or null
  private final float[] floatData;
  private final long[] intData;        // int32_data or int64_data, widened
  private final double[] doubleData;

  OnnxTensor(String name, int dataType, long[] dims, ByteBuffer raw, float[] floatData, long[] intData, double[] doubleData) {
    this.name = name;
    this.dataType = dataType;
    this.dims = dims;
    this.raw = raw;
    this.floatData = floatData;
    this.intData = intData;
    this.doubleData = doubleData;
  }

  public String name() {
    return name;
  }

  /** ONNX TensorProto.DataType (1 float, 7 int64, ...). */
  public int dataType() {
    return dataType;
  }

  public long[] dims() {
    return dims.clone();
  }

  public long numel() {
    long n = 1;
    for (long d : dims) n *= d;
    return n;
  }

  /** The values of a FLOAT, FLOAT16, BFLOAT16 or DOUBLE tensor as fp32 (halves widened exactly). */
  public float[] floats() throws IOException {
    int n = Math.toIntExact(numel());
    float[] out = new float[n];
    switch (dataType) {
      case FLOAT -> {
        if (raw != null) {
          check(4);
          raw.duplicate().order(raw.order()).asFloatBuffer().get(out);
        } else {
          checkCount(floatData.length);
          System.arraycopy(floatData, 0, out, 0, n);
        }
      }
      case DOUBLE -> {
        if (raw != null) {
          check(8);
          for (int i = 0; i < n; i++) out[i] = (float) raw.getDouble(8 * i);
        } else {
          checkCount(doubleData.length);
          for (int i = 0; i < n; i++) out[i] = (float) doubleData[i];
        }
      }
      case FLOAT16, BFLOAT16 -> {
        if (raw != null) check(2);
        else checkCount(intData.length);
        for (int i = 0; i < n; i++) {
          int bits = raw != null ? raw.getShort(2 * i) & 0xffff : (int) intData[i] & 0xffff;
          out[i] = dataType == BFLOAT16 ? Float.intBitsToFloat(bits << 16) : halfToFloat(bits);
        }
      }
      default -> throw new IOException("ONNX tensor " + name + " has data type " + dataType + ", not floating point");
    }
    return out;
  }

  /** The values of an INT64 or INT32 tensor. */
  public long[] longs() throws IOException {
    int n = Math.toIntExact(numel());
    long[] out = new long[n];
    if (dataType != INT64 && dataType != INT32) {
      throw new IOException("ONNX tensor " + name + " has data type " + dataType + ", not INT64/INT32");
    }
    if (raw != null) {
      check(dataType == INT64 ? 8 : 4);
      for (int i = 0; i < n; i++) out[i] = dataType == INT64 ? raw.getLong(8 * i) : raw.getInt(4 * i);
    } else {
      checkCount(intData.length);
      System.arraycopy(intData, 0, out, 0, n);
    }
    return out;
  }

  private void check(int bytes) throws IOException {
    if (raw.remaining() != numel() * bytes) {
      throw new IOException("ONNX tensor " + name + " " + Arrays.toString(dims) + " has " + raw.remaining()
          + " bytes of raw_data, expected " + numel() * bytes);
    }
  }

  private void checkCount(int count) throws IOException {
    if (count != numel()) {
      throw new IOException("ONNX tensor " + name + " " + Arrays.toString(dims) + " holds " + count + " values, expected " + numel());
    }
  }

  private static float halfToFloat(int bits) {
    int sign = (bits & 0x8000) << 16, exp = (bits >>> 10) & 0x1f, mant = bits & 0x3ff;
    if (exp == 0x1f) return Float.intBitsToFloat(sign | 0x7f800000 | (mant << 13));
    if (exp == 0) {
      float v = mant * 0x1p-24f;
      return sign != 0 ? -v : v;
    }
    return Float.intBitsToFloat(sign | ((exp + 112) << 23) | (mant << 13));
  }

  @Override
  public String toString() {
    return "OnnxTensor " + name + " type " + dataType + " " + Arrays.toString(dims);
  }

  // ---- parsing ----------------------------------------------------------------------------------

  /** TensorProto: dims 1, data_type 2, float_data 4, int32_data 5, int64_data 7, name 8, raw_data 9, double_data 10, data_location 14. */
  static OnnxTensor parse(Protobuf p) throws IOException {
    String name = "";
    int type = 0;
    Protobuf.LongList dims = new Protobuf.LongList(), ints = new Protobuf.LongList();
    Protobuf.FloatList floats = new Protobuf.FloatList();
    java.util.List<Double> doubles = new java.util.ArrayList<>();
    ByteBuffer raw = null;
    boolean external = false;
    while (p.next()) {
      switch (p.field()) {
        case 1 -> p.varints(dims);
        case 2 -> type = (int) p.varint();
        case 4 -> p.floats(floats);
        case 5, 7 -> p.varints(ints);
        case 8 -> name = p.string();
        case 9 -> raw = p.bytes();
        case 10 -> {
          if (p.wireType() == Protobuf.LEN) {
            ByteBuffer b = p.bytes();
            while (b.hasRemaining()) doubles.add(b.getDouble());
          } else {
            doubles.add(Double.longBitsToDouble(p.fixed64()));
          }
        }
        case 14 -> external = p.varint() == 1;
        default -> p.skip();
      }
    }
    if (external) throw new IOException("ONNX tensor " + name + " is stored outside the model file (external data), which is not supported");
    long[] ia = ints.toArray();
    if (type == INT32 || type == FLOAT16 || type == BFLOAT16) {
      for (int i = 0; i < ia.length; i++) ia[i] = (int) ia[i];    // int32_data varints are sign-extended 64-bit
    }
    double[] da = doubles.stream().mapToDouble(Double::doubleValue).toArray();
    return new OnnxTensor(name, type, dims.toArray(), raw, floats.toArray(), ia, da);
  }
}
