package ai.anvil.bench;

import ai.anvil.backend.Backend;
import ai.anvil.tensor.DType;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Tensor;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.AuxCounters;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * CPU layerNorm forward and backward at GPT-2 training shapes: 8 x 1024 tokens of width 768 (small) or
 * 1600 (XL). Memory-bound: the score is calls per second, and the {@code bytes} counter is the bytes
 * each call must move (fwd: read x, write y; bwd: read x and dy, write dx) per second, i.e. GB/s x 1e9.
 * Compare it with the machine's streaming bandwidth (native/test/ops_check --bench prints a roofline).
 *
 * <p>bench/run.sh LayerNormBench
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
@State(Scope.Benchmark)
public class LayerNormBench {
  @Param({"768", "1600"})
  public int cols;

  private static final int ROWS = 8 * 1024;

  private final Backend cpu = Backend.of(Device.CPU);
  private Tensor x, weight, bias, y, mean, rstd, dy, dx, dweight, dbias;

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
    x = Tensor.empty(DType.F32, Device.CPU, ROWS, cols);
    dy = Tensor.empty(DType.F32, Device.CPU, ROWS, cols);
    float[] values = new float[ROWS * cols];
    SplittableRandom random = new SplittableRandom(42);
    for (int i = 0; i < values.length; i++) values[i] = (float) random.nextGaussian();
    x.copyFrom(values);
    dy.copyFrom(values);
    weight = Tensor.full(1.0, DType.F32, Device.CPU, cols);
    bias = Tensor.zeros(DType.F32, Device.CPU, cols);
    y = Tensor.empty(DType.F32, Device.CPU, ROWS, cols);
    dx = Tensor.empty(DType.F32, Device.CPU, ROWS, cols);
    mean = Tensor.empty(DType.F32, Device.CPU, ROWS);
    rstd = Tensor.empty(DType.F32, Device.CPU, ROWS);
    dweight = Tensor.zeros(DType.F32, Device.CPU, cols);
    dbias = Tensor.zeros(DType.F32, Device.CPU, cols);
    cpu.layerNorm(x, weight, bias, y, mean, rstd, 1e-5);
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    for (Tensor t : new Tensor[] {x, weight, bias, y, mean, rstd, dy, dx, dweight, dbias}) t.close();
  }

  @Benchmark
  public void forward(Traffic traffic) {
    cpu.layerNorm(x, weight, bias, y, mean, rstd, 1e-5);
    traffic.bytes += 8L * ROWS * cols;
  }

  @Benchmark
  public void backward(Traffic traffic) {
    cpu.layerNormBackward(x, weight, mean, rstd, dy, dx, dweight, dbias);
    traffic.bytes += 12L * ROWS * cols;
  }
}
