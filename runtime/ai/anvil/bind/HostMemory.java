package ai.anvil.bind;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.Pointer;

/** Java views of native host memory: a direct ByteBuffer over [address, address + bytes). */
public final class HostMemory {
  private HostMemory() {}

  /** A little-endian buffer over native memory; valid only while that memory is alive. */
  public static ByteBuffer view(long address, long bytes) {
    if (bytes > Integer.MAX_VALUE) {
      throw new IllegalArgumentException("host view of " + bytes + " bytes exceeds 2 GiB; copy in chunks");
    }
    return new BytePointer(new RawPointer(address, bytes)).capacity(bytes).limit(bytes).asByteBuffer()
        .order(ByteOrder.nativeOrder());
  }

  /** A Pointer over memory Anvil owns: no deallocator, never freed by JavaCPP. */
  private static final class RawPointer extends Pointer {
    RawPointer(long address, long bytes) {
      this.address = address;
      this.position = 0;
      this.limit = bytes;
      this.capacity = bytes;
    }
  }
}
