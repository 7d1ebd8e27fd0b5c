package ai.anvil.tensor;

import ai.anvil.backend.Backend;

/**
 * Device memory with a reference count: the tensor that allocated it holds one reference and every
 * view made from it holds another. The memory is freed when the last holder closes.
 */
final class Storage {
  final Device device;
  final long address;
  final long bytes;
  private int refs = 1;

  private Storage(Device device, long address, long bytes) {
    this.device = device;
    this.address = address;
    this.bytes = bytes;
  }

  static Storage allocate(Device device, long bytes) {
    long address = Backend.of(device).allocate(bytes);
    MemoryStats.allocated(device, bytes);
    return new Storage(device, address, bytes);
  }

  synchronized void retain() {
    if (refs <= 0) throw new IllegalStateException("storage already freed");
    refs++;
  }

  void release() {
    boolean free;
    synchronized (this) {
      free = --refs == 0;
    }
    if (free) {
      Backend.of(device).free(address);
      MemoryStats.freed(device, bytes);
    }
  }
}
