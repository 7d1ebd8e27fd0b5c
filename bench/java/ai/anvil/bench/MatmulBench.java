package ai.anvil.bench;

import ai.anvil.backend.Backend;
import ai.anvil.backend.cpu.CpuBackend;
import ai.anvil.tensor.DType;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Tensor;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.openblas.global.openblas;
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
 * CPU fp32 matmul, Anvil (through {@link Backend#matmul}) against OpenBLAS's cblas_sgemm (the
 * org.bytedeco.openblas preset, called directly on native buffers holding the same values).
 *   shape m x n x k: squares 256..2048, and the products of one transformer step:
 *     768 rows (12 x 64 tokens), width 128: qkv 768x384x128, proj 768x128x128, fc 768x512x128,
 *                                           fc2 768x128x512
 *     4096 rows, width 384:                 qkv 4096x1152x384, proj 4096x384x384, fc 4096x1536x384,
 *                                           fc2 4096x384x1536
 *   layout: NT (x @ W^T: a Linear's forward, W stored (out,in)), NN (dy @ W: its input gradient),
 *     TN (dy^T @ x: its weight gradient).
 *   threads: 0 leaves both libraries at their defaults (every core); n pins both to n threads.
 * Score: calls per second; the gflop counter is GFLOP/s (2mnk per call).
 *
 * <p>bench/run.sh -f 1 -wi 3 -i 5 MatmulBench; one shape: ... MatmulBench -p mnk=1024x1024x1024 -p layout=NN.
 * native/test/gemm_check --bench times the same shapes from C++, without the JVM.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
@State(Scope.Thread)
public class MatmulBench {
  @Param({"256x256x256", "512x512x512", "1024x1024x1024", "2048x2048x2048", "768x384x128", "768x128x128",
      "768x512x128", "768x128x512", "4096x1152x384", "4096x384x384", "4096x1536x384", "4096x384x1536"})
  public String mnk;

  @Param({"NN", "NT", "TN"})
  public String layout;

  @Param({"0"})
  public int threads;

  private final Backend cpu = Backend.of(Device.CPU);
  private int m, n, k;
  private boolean transA, transB;
  private double gflopPerCall;
  private Tensor a, b, c;
  private FloatPointer blasA, blasB, blasC;

  /** GFLOP done, counted per call: JMH reports it per second. */
  @State(Scope.Thread)
  @AuxCounters(AuxCounters.Type.OPERATIONS)
  public static class Flops {
    public double gflop;

    @Setup(Level.Iteration)
    public void clear() {
      gflop = 0;
    }
  }

  @Setup(Level.Trial)
  public void setUp() {
    String[] dims = mnk.split("x");
    m = Integer.parseInt(dims[0]);
    n = Integer.parseInt(dims[1]);
    k = Integer.parseInt(dims[2]);
    transA = layout.charAt(0) == 'T';
    transB = layout.charAt(1) == 'T';
    gflopPerCall = 2.0 * m * n * k * 1e-9;
    if (threads > 0) {
      // Thread-scoped state: this runs on the benchmark thread, whose OpenMP setting Anvil uses.
      CpuBackend.setThreads(threads);
      openblas.blas_set_num_threads(threads);
    }
    // a is (m,k) or, transposed, (k,m); b is (k,n) or (n,k): same element counts either way.
    float[] values = random(m * k, 1);
    a = Tensor.empty(DType.F32, Device.CPU, transA ? new long[] {k, m} : new long[] {m, k});
    a.copyFrom(values);
    blasA = new FloatPointer(values);
    values = random(k * n, 2);
    b = Tensor.empty(DType.F32, Device.CPU, transB ? new long[] {n, k} : new long[] {k, n});
    b.copyFrom(values);
    blasB = new FloatPointer(values);
    c = Tensor.empty(DType.F32, Device.CPU, m, n);
    blasC = new FloatPointer((long) m * n);
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    for (Tensor t : new Tensor[] {a, b, c}) t.close();
    blasA.close();
    blasB.close();
    blasC.close();
  }

  @Benchmark
  public void anvil(Flops flops) {
    cpu.matmul(a, b, null, c, transA, transB, 1.0, false);
    flops.gflop += gflopPerCall;
  }

  @Benchmark
  public void openblas(Flops flops) {
    openblas.cblas_sgemm(openblas.CblasRowMajor, transA ? openblas.CblasTrans : openblas.CblasNoTrans,
        transB ? openblas.CblasTrans : openblas.CblasNoTrans, m, n, k, 1.0f, blasA, transA ? m : k, blasB,
        transB ? k : n, 0.0f, blasC, n);
    flops.gflop += gflopPerCall;
  }

  private static float[] random(int count, long seed) {
    SplittableRandom random = new SplittableRandom(seed);
    float[] values = new float[count];
    for (int i = 0; i < count; i++) values[i] = (float) (random.nextDouble() * 2 - 1);
    return values;
  }
}
