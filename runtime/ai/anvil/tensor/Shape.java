package ai.anvil.tensor;

import java.util.Arrays;

/** An immutable list of dimension sizes, row-major. {@code (2, 3)} has rank 2 and 6 elements. */
public final class Shape {
  private final long[] dims;
  private final long numel;

  private Shape(long[] dims) {
    this.dims = dims;
    long n = 1;
    for (long d : dims) {
      if (d < 0) throw new IllegalArgumentException("negative dimension in shape " + Arrays.toString(dims));
      n = Math.multiplyExact(n, d);
    }
    this.numel = n;
  }

  public static Shape of(long... dims) {
    return new Shape(dims.clone());
  }

  public int rank() {
    return dims.length;
  }

  /** Size of dimension i; negative i counts from the end ({@code dim(-1)} is the last). */
  public long dim(int i) {
    int j = i < 0 ? dims.length + i : i;
    if (j < 0 || j >= dims.length) {
      throw new IllegalArgumentException("dimension " + i + " out of range for shape " + this);
    }
    return dims[j];
  }

  public long numel() {
    return numel;
  }

  public long[] dims() {
    return dims.clone();
  }

  /** Product of all dimensions but the last: the row count of a (rows, cols) view. */
  public long rows() {
    long rows = 1;
    for (int i = 0; i < dims.length - 1; i++) rows *= dims[i];
    return rows;
  }

  /** Replaces one -1 by the size that keeps the element count; checks the count matches. */
  public Shape reshape(long... newDims) {
    long[] out = newDims.clone();
    int free = -1;
    long known = 1;
    for (int i = 0; i < out.length; i++) {
      if (out[i] == -1) {
        if (free >= 0) throw new IllegalArgumentException("reshape: more than one -1 in " + Arrays.toString(newDims));
        free = i;
      } else {
        known = Math.multiplyExact(known, out[i]);
      }
    }
    if (free >= 0) {
      if (known == 0 || numel % known != 0) {
        throw new IllegalArgumentException("reshape: cannot view " + this + " as " + Arrays.toString(newDims));
      }
      out[free] = numel / known;
    }
    Shape shape = new Shape(out);
    if (shape.numel != numel) {
      throw new IllegalArgumentException("reshape: " + this + " has " + numel + " elements, "
          + Arrays.toString(newDims) + " has " + shape.numel);
    }
    return shape;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof Shape s && Arrays.equals(dims, s.dims);
  }

  @Override
  public int hashCode() {
    return Arrays.hashCode(dims);
  }

  @Override
  public String toString() {
    StringBuilder b = new StringBuilder("(");
    for (int i = 0; i < dims.length; i++) {
      if (i > 0) b.append(", ");
      b.append(dims[i]);
    }
    return b.append(dims.length == 1 ? ",)" : ")").toString();
  }
}
