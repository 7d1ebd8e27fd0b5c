package ai.anvil.backend;

import ai.anvil.tensor.DType;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Shape;
import ai.anvil.tensor.Tensor;

/**
 * Argument checks run before every native call. Each failure throws IllegalArgumentException (or
 * IllegalStateException for a closed tensor) whose message names the op, the argument and the shapes.
 */
final class Checks {
  private Checks() {}

  /** Not null, not closed, on the backend's device. */
  static void present(String op, String name, Tensor t, Device device) {
    if (t == null) throw new IllegalArgumentException(op + ": " + name + " must not be null");
    t.checkAlive(op + " (" + name + ")");
    if (!t.device().equals(device)) {
      throw new IllegalArgumentException(op + ": " + name + " is on " + t.device() + " but the op runs on "
          + device + " (mixed devices)");
    }
  }

  /** Like present, but null is allowed (optional argument). */
  static void optional(String op, String name, Tensor t, Device device) {
    if (t != null) present(op, name, t, device);
  }

  static void dtype(String op, String name, Tensor t, DType expected) {
    if (t != null && t.dtype() != expected) {
      throw new IllegalArgumentException(op + ": " + name + " must be " + expected + ", got " + t.dtype()
          + " " + t.shape());
    }
  }

  static void sameDtype(String op, Tensor reference, String name, Tensor t) {
    if (t != null && t.dtype() != reference.dtype()) {
      throw new IllegalArgumentException(op + ": " + name + " is " + t.dtype() + " but the inputs are "
          + reference.dtype());
    }
  }

  static void shape(String op, String name, Tensor t, Shape expected) {
    if (t != null && !t.shape().equals(expected)) {
      throw new IllegalArgumentException(op + ": " + name + " must have shape " + expected + ", got "
          + t.shape());
    }
  }

  static void shape(String op, String name, Tensor t, long... dims) {
    shape(op, name, t, Shape.of(dims));
  }

  static void rank(String op, String name, Tensor t, int... allowed) {
    for (int r : allowed) if (t.rank() == r) return;
    StringBuilder b = new StringBuilder();
    for (int r : allowed) b.append(b.length() == 0 ? "" : " or ").append(r);
    throw new IllegalArgumentException(op + ": " + name + " must have rank " + b + ", got shape " + t.shape());
  }

  static void numel(String op, String name, Tensor t, long expected) {
    if (t != null && t.numel() != expected) {
      throw new IllegalArgumentException(op + ": " + name + " must have " + expected + " elements, got shape "
          + t.shape());
    }
  }

  static void positive(String op, String name, long value) {
    if (value <= 0) throw new IllegalArgumentException(op + ": " + name + " must be > 0, got " + value);
  }

  static void finite(String op, String name, double value) {
    if (!Double.isFinite(value)) throw new IllegalArgumentException(op + ": " + name + " must be finite, got " + value);
  }

  /** The output must not be one of the inputs (kernels read inputs while writing outputs). */
  static void distinct(String op, String outName, Tensor out, Tensor... inputs) {
    if (out == null) return;
    for (Tensor in : inputs) {
      if (in != null && overlaps(in, out)) {
        throw new IllegalArgumentException(op + ": " + outName + " overlaps an input");
      }
    }
  }

  private static boolean overlaps(Tensor a, Tensor b) {
    long a0 = a.address(), a1 = a0 + a.bytes();
    long b0 = b.address(), b1 = b0 + b.bytes();
    return a0 < b1 && b0 < a1 && a.bytes() > 0 && b.bytes() > 0;
  }
}
