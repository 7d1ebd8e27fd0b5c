package ai.anvil.bench;

import ai.anvil.backend.AdamWStep;
import ai.anvil.backend.Backend;
import ai.anvil.tensor.DType;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.AuxCounters;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The CPU optimizer step over GPT-2 small's 148 parameter tensors (124M values, decay on the matrices
 * only): one AdamW update, and the gradient norm that clipping computes before it. Memory-bound: the
 * score is steps per second, and the {@code bytes} counter is the bytes each call must move per second
 * (AdamW reads p, g, m, v and writes p, m, v: 28 bytes a parameter; the norm reads g: 4), i.e. GB/s x 1e9.
 *
 * <p>bench/run.sh AdamWBench
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
@State(Scope.Benchmark)
public class AdamWBench {
  private final Backend cpu = Backend.of(Device.CPU);
  private final List<Tensor> params = new ArrayList<>(), grads = new ArrayList<>(), m = new ArrayList<>(),
      v = new ArrayList<>();
  private boolean[] decay;
  private long count;
  private long step;

  /** Bytes moved, counted per call: JMH reports them per second. */
  @State(Scope.Thread)
  @AuxCounters(AuxCounters.Type.OPERATIONS)
  public static class Traffic {
    public long bytes;

    @Setup(Level.Iteration)
    public void clear() {
      bytes = 0;
    }
  }

  @Setup(Level.Trial)
  public void setUp() {
    List<long[]> shapes = new ArrayList<>();
    int c = 768;
    shapes.add(new long[] {50_304, c});  // wte
    shapes.add(new long[] {1024, c});    // wpe
    for (int layer = 0; layer < 12; layer++) {
      shapes.add(new long[] {c});
      shapes.add(new long[] {c});             // ln_1
      shapes.add(new long[] {3 * c, c});
      shapes.add(new long[] {3 * c});         // attn.c_attn
      shapes.add(new long[] {c, c});
      shapes.add(new long[] {c});             // attn.c_proj
      shapes.add(new long[] {c});
      shapes.add(new long[] {c});             // ln_2
      shapes.add(new long[] {4 * c, c});
      shapes.add(new long[] {4 * c});         // mlp.c_fc
      shapes.add(new long[] {c, 4 * c});
      shapes.add(new long[] {c});             // mlp.c_proj
    }
    shapes.add(new long[] {c});
    shapes.add(new long[] {c});               // ln_f
    decay = new boolean[shapes.size()];
    for (int i = 0; i < shapes.size(); i++) {
      long[] dims = shapes.get(i);
      decay[i] = dims.length == 2;
      params.add(Tensor.full(0.02, DType.F32, Device.CPU, dims));
      grads.add(Tensor.full(1e-3, DType.F32, Device.CPU, dims));
      m.add(Tensor.zeros(DType.F32, Device.CPU, dims));
      v.add(Tensor.zeros(DType.F32, Device.CPU, dims));
      count += params.get(i).numel();
    }
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    for (List<Tensor> list : List.of(params, grads, m, v)) list.forEach(Tensor::close);
  }

  @Benchmark
  public void adamw(Traffic traffic) {
    cpu.adamw(params, grads, m, v, decay, new AdamWStep(6e-4, 0.9, 0.95, 1e-8, 0.1, ++step, 1.0));
    traffic.bytes += 28 * count;
  }

  @Benchmark
  public double gradNorm(Traffic traffic) {
    traffic.bytes += 4 * count;
    return cpu.gradNorm(grads);
  }
}
