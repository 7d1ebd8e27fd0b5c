// allocator.cpp: host memory of the CPU library, a caching allocator in front of the C heap.
//
// Why: a training step allocates and frees the same multi-MB activations and gradients every step. glibc
// serves blocks that large with mmap and gives them back with munmap on free, so every step faulted its
// whole working set in again: 23-26% of a cpu-small step was the Linux kernel (page faults, page
// clearing, unmapping; bench/RESULTS.md). Here a freed block goes to a free list of its size class and
// the next request of that class gets it back with its pages already mapped.
//
//   anvil_cpu_alloc(bytes)  64-byte aligned block of >= bytes; from the cache when its class has one
//   anvil_cpu_free(addr)    back to the cache, or to the heap when the cache would pass its limit
//   anvil_cpu_cached_bytes  bytes held free in the cache (class sizes); not counted by MemoryStats,
//                           which counts live tensor bytes only
//   anvil_cpu_set_cache_limit(bytes)  bound on cached bytes (0 disables caching); trims at once
//   anvil_cpu_get_cache_limit()       the bound (default: a quarter of physical memory)
//   anvil_cpu_release_cache()         frees every cached block and trims the heap
//
// Size classes: multiples of 64 bytes up to 256, then four classes per power of two (320, 384, 448,
// 512, 640, ...), so a block is at most 25% larger than asked. A 64-byte header before each block holds
// its class, so free needs no lookup. When a free would pass the limit, the classes used least recently
// give their blocks back first (a run whose shapes change, as decoding's growing cache does, does not
// fill the cache with sizes it no longer asks for). One mutex guards the lists; the work under it is a
// few pointer moves, against the tens of microseconds the kernels that use the memory take.
#include <malloc.h>
#include <unistd.h>

#include <cstdlib>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "anvil/anvil_cpu_cache.h"
#include "common.h"

namespace anvil {
namespace {

constexpr size_t kAlign = 64;
constexpr size_t kHeader = 64;  // keeps the user pointer 64-byte aligned

size_t size_class(size_t bytes) {
  size_t r = (bytes + kAlign - 1) / kAlign * kAlign;
  if (r == 0) r = kAlign;
  if (r <= 256) return r;
  const int octave = 63 - __builtin_clzll(r - 1);  // 2^octave < r <= 2^(octave+1)
  const size_t step = size_t{1} << (octave - 2);
  return (r + step - 1) / step * step;
}

struct Header {
  size_t bytes;  // the class size (usable bytes after the header)
};

struct FreeList {
  std::vector<void*> blocks;  // bases (header addresses)
  uint64_t last_use = 0;
};

// Physical memory / 4: the default bound on cached bytes.
size_t default_limit() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page <= 0) return size_t{1} << 30;
  return static_cast<size_t>(pages) * static_cast<size_t>(page) / 4;
}

class Cache {
 public:
  void* allocate(size_t bytes) {
    const size_t cls = size_class(bytes);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = lists_.find(cls);
      if (it != lists_.end()) {
        it->second.last_use = ++tick_;
        if (!it->second.blocks.empty()) {
          void* base = it->second.blocks.back();
          it->second.blocks.pop_back();
          cached_ -= cls;
          return static_cast<char*>(base) + kHeader;
        }
      }
    }
    void* base = std::aligned_alloc(kAlign, cls + kHeader);
    if (!base) {
      release();  // cached blocks of other classes may make room
      base = std::aligned_alloc(kAlign, cls + kHeader);
      if (!base) return nullptr;
    }
    static_cast<Header*>(base)->bytes = cls;
    return static_cast<char*>(base) + kHeader;
  }

  void free(void* memory) {
    if (!memory) return;
    void* base = static_cast<char*>(memory) - kHeader;
    const size_t cls = static_cast<Header*>(base)->bytes;
    std::vector<void*> evicted;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (cls > limit_) {
        evicted.push_back(base);
      } else {
        while (cached_ + cls > limit_) evict_oldest(&evicted);
        FreeList& list = lists_[cls];
        list.blocks.push_back(base);
        list.last_use = ++tick_;
        cached_ += cls;
      }
    }
    for (void* b : evicted) std::free(b);
  }

  size_t cached() {
    std::lock_guard<std::mutex> lock(mutex_);
    return cached_;
  }

  void set_limit(size_t limit) {
    std::vector<void*> evicted;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      limit_ = limit;
      while (cached_ > limit_) evict_oldest(&evicted);
    }
    for (void* b : evicted) std::free(b);
  }

  size_t limit() {
    std::lock_guard<std::mutex> lock(mutex_);
    return limit_;
  }

  void release() {
    std::vector<void*> evicted;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (auto& entry : lists_) {
        evicted.insert(evicted.end(), entry.second.blocks.begin(), entry.second.blocks.end());
        entry.second.blocks.clear();
      }
      cached_ = 0;
    }
    for (void* b : evicted) std::free(b);
    malloc_trim(0);
  }

 private:
  // Moves the blocks of the least recently used non-empty class to *out (freed outside the lock).
  void evict_oldest(std::vector<void*>* out) {
    FreeList* oldest = nullptr;
    size_t oldest_cls = 0;
    for (auto& entry : lists_) {
      if (!entry.second.blocks.empty() && (!oldest || entry.second.last_use < oldest->last_use)) {
        oldest = &entry.second;
        oldest_cls = entry.first;
      }
    }
    if (!oldest) {  // cannot happen while cached_ > 0; keeps the caller's loop finite regardless
      cached_ = 0;
      return;
    }
    out->insert(out->end(), oldest->blocks.begin(), oldest->blocks.end());
    cached_ -= oldest_cls * oldest->blocks.size();
    oldest->blocks.clear();
  }

  std::mutex mutex_;
  std::unordered_map<size_t, FreeList> lists_;
  size_t cached_ = 0;
  size_t limit_ = default_limit();
  uint64_t tick_ = 0;
};

// Never destroyed: tensors may be freed by JVM threads while the library is being unloaded at exit.
Cache& cache() {
  static Cache* const instance = new Cache();
  return *instance;
}

}  // namespace
}  // namespace anvil

using namespace anvil;

extern "C" {

int64_t anvil_cpu_alloc(int64_t bytes) {
  if (bytes < 0) {
    fail(ANVIL_E_INVALID, "alloc: negative size %lld", (long long)bytes);
    return 0;
  }
  void* memory = cache().allocate(static_cast<size_t>(bytes));
  if (!memory) {
    fail(ANVIL_E_NOMEM, "alloc: out of host memory for %lld bytes", (long long)bytes);
    return 0;
  }
  return static_cast<int64_t>(reinterpret_cast<uintptr_t>(memory));
}

void anvil_cpu_free(int64_t address) { cache().free(ptr<void>(address)); }

int64_t anvil_cpu_cached_bytes(void) { return static_cast<int64_t>(cache().cached()); }

int anvil_cpu_set_cache_limit(int64_t bytes) {
  if (bytes < 0) return fail(ANVIL_E_INVALID, "set_cache_limit: negative limit %lld", (long long)bytes);
  cache().set_limit(static_cast<size_t>(bytes));
  return ANVIL_OK;
}

int64_t anvil_cpu_get_cache_limit(void) { return static_cast<int64_t>(cache().limit()); }

void anvil_cpu_release_cache(void) { cache().release(); }

}  // extern "C"
