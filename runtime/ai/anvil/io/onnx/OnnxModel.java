package ai.anvil.io.onnx;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * An ONNX model file read without a protobuf library: ModelProto's versions and its graph's nodes,
 * initializers, inputs and outputs. Initializer data is not copied (a view of the file's bytes); a file
 * is memory-mapped, so a model of a few hundred MB costs little heap. Only what reading weights and
 * walking the graph need is kept (no value types, no subgraphs, no external data).
 */
public final class OnnxModel {
  private final long irVersion;
  private final String producer;
  private final long opsetVersion;
  private final List<OnnxNode> nodes;
  private final Map<String, OnnxTensor> initializers;
  private final List<String> inputs;
  private final List<String> outputs;
  private final Map<String, OnnxNode> producers = new HashMap<>();
  private final Map<String, List<OnnxNode>> consumers = new HashMap<>();

  private OnnxModel(long irVersion, String producer, long opsetVersion, List<OnnxNode> nodes,
                    Map<String, OnnxTensor> initializers, List<String> inputs, List<String> outputs) {
    this.irVersion = irVersion;
    this.producer = producer;
    this.opsetVersion = opsetVersion;
    this.nodes = List.copyOf(nodes);
    this.initializers = Collections.unmodifiableMap(initializers);
    this.inputs = List.copyOf(inputs);
    this.outputs = List.copyOf(outputs);
    for (OnnxNode n : nodes) {
      for (String o : n.outputs()) producers.put(o, n);
      for (String i : n.inputs()) consumers.computeIfAbsent(i, k -> new ArrayList<>()).add(n);
    }
  }

  /** Reads a .onnx file (memory-mapped; the map lives as long as the tensors that view it). */
  public static OnnxModel read(Path file) throws IOException {
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      if (ch.size() > Integer.MAX_VALUE) throw new IOException(file + ": larger than 2 GB, so not a single-file ONNX model");
      return read(ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size()), file.toString());
    }
  }

  /** Reads a model from a stream (a jar entry, say), holding its bytes on the heap. */
  public static OnnxModel read(InputStream in, String source) throws IOException {
    return read(ByteBuffer.wrap(in.readAllBytes()), source);
  }

  /** Parses ModelProto: ir_version 1, producer_name 2, graph 7, opset_import 8. */
  public static OnnxModel read(ByteBuffer bytes, String source) throws IOException {
    try {
      Protobuf p = new Protobuf(bytes, "ModelProto");
      long ir = 0, opset = 0;
      String producer = "";
      Protobuf graph = null;
      while (p.next()) {
        switch (p.field()) {
          case 1 -> ir = p.varint();
          case 2 -> producer = p.string();
          case 7 -> graph = p.message("graph");
          case 8 -> {
            Protobuf o = p.message("opset_import");
            String domain = "";
            long version = 0;
            while (o.next()) {
              if (o.field() == 1) domain = o.string();
              else if (o.field() == 2) version = o.varint();
              else o.skip();
            }
            if (domain.isEmpty() || domain.equals("ai.onnx")) opset = version;
          }
          default -> p.skip();
        }
      }
      if (graph == null || ir == 0) throw new IOException("no graph or ir_version: not an ONNX model");
      List<OnnxNode> nodes = new ArrayList<>();
      Map<String, OnnxTensor> inits = new LinkedHashMap<>();
      List<String> in = new ArrayList<>(), out = new ArrayList<>();
      while (graph.next()) {
        switch (graph.field()) {
          case 1 -> nodes.add(OnnxNode.parse(graph.message("node")));
          case 5 -> {
            OnnxTensor t = OnnxTensor.parse(graph.message("initializer"));
            inits.put(t.name(), t);
          }
          case 11 -> in.add(valueName(graph.message("input")));
          case 12 -> out.add(valueName(graph.message("output")));
          default -> graph.skip();
        }
      }
      return new OnnxModel(ir, producer, opset, nodes, inits, in, out);
    } catch (IOException e) {
      throw new IOException(source + ": " + e.getMessage(), e);
    }
  }

  private static String valueName(Protobuf p) throws IOException {
    String name = "";
    while (p.next()) {
      if (p.field() == 1) name = p.string();
      else p.skip();
    }
    return name;
  }

  public long irVersion() {
    return irVersion;
  }

  /** producer_name, e.g. "pytorch". */
  public String producer() {
    return producer;
  }

  /** The default-domain opset version. */
  public long opsetVersion() {
    return opsetVersion;
  }

  public List<OnnxNode> nodes() {
    return nodes;
  }

  /** Initializers by name, in file order. */
  public Map<String, OnnxTensor> initializers() {
    return initializers;
  }

  /** Graph inputs that are not initializers (what a caller feeds). */
  public List<String> inputs() {
    List<String> out = new ArrayList<>();
    for (String i : inputs) if (!initializers.containsKey(i)) out.add(i);
    return out;
  }

  public List<String> outputs() {
    return outputs;
  }

  /** The node writing a value, or null for graph inputs and initializers. */
  public OnnxNode producer(String value) {
    return producers.get(value);
  }

  /** The nodes reading a value. */
  public List<OnnxNode> consumers(String value) {
    return consumers.getOrDefault(value, List.of());
  }

  /**
   * A constant value: an initializer, or the tensor of the Constant node producing it; null when the
   * value is computed.
   */
  public OnnxTensor constant(String value) {
    OnnxTensor t = initializers.get(value);
    if (t != null) return t;
    OnnxNode n = producers.get(value);
    if (n != null && n.opType().equals("Constant") && n.attributes().containsKey("value")) return n.attributes().get("value").t();
    return null;
  }
}
