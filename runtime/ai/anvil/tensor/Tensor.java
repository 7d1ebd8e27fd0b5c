package ai.anvil.tensor;

import ai.anvil.backend.Backend;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A dense, row-major, contiguous n-d array in native memory on one device.
 *
 * <p>Ownership (DESIGN.md "Memory"): a tensor has exactly one owner. Made while a {@link Scope} is open,
 * the innermost scope owns it and frees it on close; made with no scope open, the caller owns it and
 * must {@link #close()} it (or hand it to a Module with {@link #detachFromScope()}). Using a closed
 * tensor throws {@link IllegalStateException}.
 *
 * <p>Views: {@link #reshape} and {@link #slice} share the storage (reference counted) and are tensors of
 * their own, owned like any other. There are no strided views: a transpose is either a flag of the
 * op that consumes it (matmul's transA/transB) or an explicit copy, so every tensor an op sees is
 * contiguous and its layout is its shape.
 *
 * <p>Autograd: {@link #requiresGrad()} marks leaves (parameters) whose gradient accumulates into
 * {@link #grad()}; the tape (ai.anvil.autograd) tracks everything else.
 */
public final class Tensor implements AutoCloseable {
  private final Shape shape;
  private final DType dtype;
  private final Storage storage;
  private final long offsetBytes;
  private final AtomicBoolean leakFlag;
  private volatile boolean closed;
  private Scope owner;
  private boolean requiresGrad;
  private Tensor grad;

  private Tensor(Shape shape, DType dtype, Storage storage, long offsetBytes) {
    this.shape = shape;
    this.dtype = dtype;
    this.storage = storage;
    this.offsetBytes = offsetBytes;
    this.owner = Scope.current();
    if (owner != null) owner.adopt(this);
    this.leakFlag = LeakDetector.isEnabled()
        ? LeakDetector.watch(this, "tensor " + shape + " " + dtype + " on " + storage.device)
        : null;
  }

  // ---- making tensors -------------------------------------------------------------------------

  /** Uninitialized memory. */
  public static Tensor empty(DType dtype, Device device, long... dims) {
    Shape shape = Shape.of(dims);
    Storage storage = Storage.allocate(device, Math.multiplyExact(shape.numel(), dtype.bytes()));
    return new Tensor(shape, dtype, storage, 0);
  }

  public static Tensor empty(DType dtype, Device device, Shape shape) {
    return empty(dtype, device, shape.dims());
  }

  public static Tensor zeros(DType dtype, Device device, long... dims) {
    Tensor t = empty(dtype, device, dims);
    Backend.of(device).fill(t, 0.0);
    return t;
  }

  public static Tensor full(double value, DType dtype, Device device, long... dims) {
    Tensor t = empty(dtype, device, dims);
    Backend.of(device).fill(t, value);
    return t;
  }

  /** An fp32 CPU tensor holding a copy of data. */
  public static Tensor of(float[] data, long... dims) {
    return of(data, Device.CPU, dims);
  }

  public static Tensor of(float[] data, Device device, long... dims) {
    Shape shape = Shape.of(dims);
    if (shape.numel() != data.length) {
      throw new IllegalArgumentException("Tensor.of: " + data.length + " values for shape " + shape);
    }
    Tensor t = empty(DType.F32, device, dims);
    t.copyFrom(data);
    return t;
  }

  /** An int32 tensor (token ids, masks) holding a copy of data. */
  public static Tensor ofInts(int[] data, long... dims) {
    return ofInts(data, Device.CPU, dims);
  }

  public static Tensor ofInts(int[] data, Device device, long... dims) {
    Shape shape = Shape.of(dims);
    if (shape.numel() != data.length) {
      throw new IllegalArgumentException("Tensor.ofInts: " + data.length + " values for shape " + shape);
    }
    Tensor t = empty(DType.I32, device, dims);
    ByteBuffer staging = ByteBuffer.allocateDirect(data.length * 4).order(ByteOrder.nativeOrder());
    staging.asIntBuffer().put(data);
    Backend.of(device).copyFromHost(t, staging);
    return t;
  }

  // ---- properties ---------------------------------------------------------------------------

  public Shape shape() {
    return shape;
  }

  public long[] dims() {
    return shape.dims();
  }

  public long dim(int i) {
    return shape.dim(i);
  }

  public int rank() {
    return shape.rank();
  }

  public long numel() {
    return shape.numel();
  }

  public DType dtype() {
    return dtype;
  }

  public Device device() {
    return storage.device;
  }

  public long bytes() {
    return shape.numel() * dtype.bytes();
  }

  public boolean isClosed() {
    return closed;
  }

  /** The native address of element 0; throws when closed. For backends only. */
  public long address() {
    checkAlive("address");
    return storage.address + offsetBytes;
  }

  /** Throws IllegalStateException naming the op when this tensor has been closed. */
  public void checkAlive(String op) {
    if (closed) throw new IllegalStateException(op + ": tensor " + shape + " " + dtype + " is closed");
  }

  // ---- views --------------------------------------------------------------------------------

  /** The same memory seen with another shape (one dimension may be -1). */
  public Tensor reshape(long... dims) {
    checkAlive("reshape");
    Shape newShape = shape.reshape(dims);
    storage.retain();
    return new Tensor(newShape, dtype, storage, offsetBytes);
  }

  /** Rows [start, end) of dimension 0, sharing memory. */
  public Tensor slice(long start, long end) {
    checkAlive("slice");
    if (shape.rank() == 0) throw new IllegalArgumentException("slice: a scalar has no dimension 0");
    long n = shape.dim(0);
    if (start < 0 || end > n || start > end) {
      throw new IllegalArgumentException("slice [" + start + ", " + end + ") out of range for " + shape);
    }
    long[] d = shape.dims();
    d[0] = end - start;
    long rowBytes = (n == 0 ? 0 : shape.numel() / n) * dtype.bytes();
    storage.retain();
    return new Tensor(Shape.of(d), dtype, storage, offsetBytes + start * rowBytes);
  }

  // ---- copies -------------------------------------------------------------------------------

  /** A copy on another device (or the same device: a plain copy). */
  public Tensor to(Device device) {
    checkAlive("to");
    Tensor out = empty(dtype, device, shape.dims());
    if (device.equals(device())) {
      Backend.of(device).copy(this, out);
    } else {
      ByteBuffer host = toHostBuffer();
      Backend.of(device).copyFromHost(out, host);
    }
    return out;
  }

  /** Overwrites this tensor with data (converted to its dtype when F32 or BF16). */
  public void copyFrom(float[] data) {
    checkAlive("copyFrom");
    if (data.length != numel()) {
      throw new IllegalArgumentException("copyFrom: " + data.length + " values for shape " + shape);
    }
    ByteBuffer staging = ByteBuffer.allocateDirect((int) bytes()).order(ByteOrder.nativeOrder());
    switch (dtype) {
      case F32 -> staging.asFloatBuffer().put(data);
      case BF16 -> {
        for (float v : data) staging.putShort(BFloat16.fromFloat(v));
        staging.flip();
      }
      case I32 -> throw new IllegalArgumentException("copyFrom(float[]) into an I32 tensor; use ints");
    }
    Backend.of(device()).copyFromHost(this, staging);
  }

  /**
   * Overwrites this tensor with the raw bytes of a direct buffer in native byte order, whose
   * capacity is exactly {@link #bytes()} (elements in this tensor's dtype).
   */
  public void copyFrom(ByteBuffer src) {
    checkAlive("copyFrom");
    Backend.of(device()).copyFromHost(this, src);
  }

  /** Copies this tensor's raw bytes into a direct buffer of exactly {@link #bytes()} capacity. */
  public void copyTo(ByteBuffer dst) {
    checkAlive("copyTo");
    Backend.of(device()).copyToHost(this, dst);
  }

  /** The values as floats (BF16 widened); reads device memory, so it synchronizes. */
  public float[] toFloatArray() {
    checkAlive("toFloatArray");
    ByteBuffer host = toHostBuffer();
    float[] out = new float[Math.toIntExact(numel())];
    switch (dtype) {
      case F32 -> host.asFloatBuffer().get(out);
      case BF16 -> {
        for (int i = 0; i < out.length; i++) out[i] = BFloat16.toFloat(host.getShort(2 * i));
      }
      case I32 -> {
        for (int i = 0; i < out.length; i++) out[i] = host.getInt(4 * i);
      }
    }
    return out;
  }

  public int[] toIntArray() {
    checkAlive("toIntArray");
    if (dtype != DType.I32) throw new IllegalArgumentException("toIntArray on a " + dtype + " tensor");
    int[] out = new int[Math.toIntExact(numel())];
    toHostBuffer().asIntBuffer().get(out);
    return out;
  }

  /** The single value of a one-element tensor. */
  public float item() {
    if (numel() != 1) throw new IllegalArgumentException("item() on a tensor of shape " + shape);
    return toFloatArray()[0];
  }

  private ByteBuffer toHostBuffer() {
    ByteBuffer host = ByteBuffer.allocateDirect(Math.toIntExact(bytes())).order(ByteOrder.nativeOrder());
    Backend.of(device()).copyToHost(this, host);
    return host;
  }

  // ---- autograd leaves ----------------------------------------------------------------------

  public boolean requiresGrad() {
    return requiresGrad;
  }

  /** Marks this tensor as a leaf whose gradient accumulates into {@link #grad()}. */
  public Tensor setRequiresGrad(boolean on) {
    this.requiresGrad = on;
    return this;
  }

  /** The accumulated gradient of a leaf (fp32, same shape), or null before the first backward. */
  public Tensor grad() {
    return grad;
  }

  /** Installs the gradient buffer of a leaf (done by the tape or a Module). */
  public void setGrad(Tensor grad) {
    if (grad != null && !grad.shape.equals(shape)) {
      throw new IllegalArgumentException("grad shape " + grad.shape + " differs from " + shape);
    }
    this.grad = grad;
  }

  // ---- ownership ----------------------------------------------------------------------------

  Scope owner() {
    return owner;
  }

  void setOwner(Scope scope) {
    this.owner = scope;
  }

  /** Takes this tensor out of its scope: the caller (say a Module) now owns and must close it. */
  public Tensor detachFromScope() {
    if (owner != null) {
      owner.disown(this);
      owner = null;
    }
    return this;
  }

  void closeFromOwner() {
    release();
  }

  /** Frees this tensor (its storage once no view needs it). Closing twice is allowed. */
  @Override
  public void close() {
    if (closed) return;
    if (owner != null) {
      owner.disown(this);
      owner = null;
    }
    release();
  }

  private void release() {
    if (closed) return;
    closed = true;
    if (leakFlag != null) leakFlag.set(true);
    storage.release();
  }

  @Override
  public String toString() {
    return "Tensor" + shape + " " + dtype + " " + device() + (closed ? " (closed)" : "");
  }
}
