package ai.anvil.bench;

import ai.anvil.backend.AttentionSpec;
import ai.anvil.backend.Backend;
import ai.anvil.tensor.DType;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Tensor;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
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
 * CPU attention through the backend, on the shapes GPT training and decoding run.
 *   training: causal self-attention over one packed (B, T, 3C) qkv tensor, as GPT's c_attn makes it
 *     gpt-small  B=12 T=64  H=4 D=32
 *     gpt        B=16 T=256 H=6 D=64
 *   decode: one new query against a (B, Tk, 2C) key/value cache, B=1 Tk=1024 H=6 D=64, forward only
 * Score: calls per second. forward writes out and lse; backward reads them and writes the packed dqkv;
 * step is both, the layer's share of one training step. Run: bench/run.sh -f 1 -wi 3 -i 5 AttentionBench
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class AttentionBench {
  private static final Backend CPU = Backend.of(Device.CPU);

  /** Tensors of one call; made with no scope open, so closed here. */
  public abstract static class Problem {
    AttentionSpec spec;
    Tensor q, kv, out, lse, dout, dq, dkv;

    void forward() {
      CPU.attention(spec, q, kv, kv, null, out, lse);
    }

    void backward() {
      CPU.attentionBackward(spec, q, kv, kv, null, out, lse, dout, dq, dkv, dkv);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
      for (Tensor t : new Tensor[] {q, kv, out, lse, dout, dq, dkv}) {
        if (t != null && !t.isClosed()) t.close();
      }
    }
  }

  @State(Scope.Thread)
  public static class Training extends Problem {
    @Param({"gpt-small", "gpt"})
    public String shape;

    @Setup(Level.Trial)
    public void setUp() {
      boolean small = shape.equals("gpt-small");
      int batch = small ? 12 : 16, len = small ? 64 : 256, heads = small ? 4 : 6, dim = small ? 32 : 64;
      int c = heads * dim;
      SplittableRandom random = new SplittableRandom(42);
      spec = AttentionSpec.packed(heads, dim, true);
      q = kv = uniform(random, batch, len, 3 * c);
      dq = dkv = Tensor.zeros(DType.F32, Device.CPU, batch, len, 3 * c);
      out = Tensor.zeros(DType.F32, Device.CPU, batch, len, c);
      lse = Tensor.zeros(DType.F32, Device.CPU, batch, heads, len);
      dout = uniform(random, batch, len, c);
      forward();
    }
  }

  @State(Scope.Thread)
  public static class Decode extends Problem {
    @Param({"1024"})
    public int cache;

    @Setup(Level.Trial)
    public void setUp() {
      int heads = 6, dim = 64, c = heads * dim;
      SplittableRandom random = new SplittableRandom(43);
      spec = new AttentionSpec(heads, dim, true, 1 / Math.sqrt(dim), 0, 0, c);
      q = uniform(random, 1, 1, c);
      kv = uniform(random, 1, cache, 2 * c);
      out = Tensor.zeros(DType.F32, Device.CPU, 1, 1, c);
    }
  }

  static Tensor uniform(SplittableRandom random, long... dims) {
    long n = 1;
    for (long d : dims) n *= d;
    float[] data = new float[Math.toIntExact(n)];
    for (int i = 0; i < data.length; i++) data[i] = (float) (random.nextDouble() * 2 - 1);
    return Tensor.of(data, dims);
  }

  @Benchmark
  public void forward(Training t) {
    t.forward();
  }

  @Benchmark
  public void backward(Training t) {
    t.backward();
  }

  @Benchmark
  public void step(Training t) {
    t.forward();
    t.backward();
  }

  /** Decoding needs no lse (no backward follows). */
  @Benchmark
  public void decode(Decode d) {
    CPU.attention(d.spec, d.q, d.kv, d.kv, null, d.out, null);
  }
}
