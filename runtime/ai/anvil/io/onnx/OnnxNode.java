package ai.anvil.io.onnx;

import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * An ONNX NodeProto: one operator of the graph with its input and output value names and attributes.
 *
 * @param name the node's name (exporters put the module path here: {@code /encoder/layer.0/attention/self/query/MatMul})
 * @param opType the operator ({@code MatMul}, {@code Add}, ...)
 * @param inputs value names read, in order ("" for an omitted optional input)
 * @param outputs value names written
 * @param attributes by name
 */
public record OnnxNode(String name, String opType, List<String> inputs, List<String> outputs,
                       Map<String, Attribute> attributes) {

  /**
   * An AttributeProto: whichever of its value fields the exporter set.
   *
   * @param f a FLOAT attribute
   * @param i an INT attribute
   * @param s a STRING attribute (UTF-8)
   * @param t a TENSOR attribute (a Constant's value), or null
   * @param floats a FLOATS attribute
   * @param ints an INTS attribute
   */
  public record Attribute(String name, float f, long i, String s, OnnxTensor t, float[] floats, long[] ints) {}

  /** NodeProto: input 1, output 2, name 3, op_type 4, attribute 5. */
  static OnnxNode parse(Protobuf p) throws IOException {
    String name = "", op = "";
    List<String> in = new ArrayList<>(), out = new ArrayList<>();
    Map<String, Attribute> attrs = new LinkedHashMap<>();
    while (p.next()) {
      switch (p.field()) {
        case 1 -> in.add(p.string());
        case 2 -> out.add(p.string());
        case 3 -> name = p.string();
        case 4 -> op = p.string();
        case 5 -> {
          Attribute a = attribute(p.message("attribute"));
          attrs.put(a.name(), a);
        }
        default -> p.skip();
      }
    }
    return new OnnxNode(name, op, List.copyOf(in), List.copyOf(out), attrs);
  }

  /** AttributeProto: name 1, f 2, i 3, s 4, t 5, floats 7, ints 8. */
  private static Attribute attribute(Protobuf p) throws IOException {
    String name = "", s = null;
    float f = 0;
    long i = 0;
    OnnxTensor t = null;
    Protobuf.FloatList floats = new Protobuf.FloatList();
    Protobuf.LongList ints = new Protobuf.LongList();
    while (p.next()) {
      switch (p.field()) {
        case 1 -> name = p.string();
        case 2 -> f = Float.intBitsToFloat(p.fixed32());
        case 3 -> i = p.varint();
        case 4 -> s = p.string();
        case 5 -> t = OnnxTensor.parse(p.message("t"));
        case 7 -> p.floats(floats);
        case 8 -> p.varints(ints);
        default -> p.skip();
      }
    }
    return new Attribute(name, f, i, s, t, floats.toArray(), ints.toArray());
  }
}
