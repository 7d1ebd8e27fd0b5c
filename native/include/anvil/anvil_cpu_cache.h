/*
 * anvil_cpu_cache.h: the host-memory cache of libanvil_cpu (native/cpu/allocator.cpp). anvil_cpu_free
 * keeps freed blocks in size classes for reuse by anvil_cpu_alloc, up to a bound on the cached bytes, so
 * a training step reuses pages it already touched instead of faulting fresh ones in. Separate from
 * anvil.h so the CPU memory controls can grow without touching the shared op ABI.
 *
 * Cached bytes are memory the process holds but no tensor uses; Java's MemoryStats counts live tensor
 * bytes only and reports these apart. Thread-safe.
 */
#ifndef ANVIL_ANVIL_CPU_CACHE_H
#define ANVIL_ANVIL_CPU_CACHE_H

#include <stdint.h>

#include "anvil/anvil.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bytes held free in the cache (size-class bytes, at most 25% over what was asked). */
ANVIL_API int64_t anvil_cpu_cached_bytes(void);
/* Bound on the cached bytes (default: a quarter of physical memory); 0 turns caching off. Lowering it
 * frees the least recently used classes at once. ANVIL_E_INVALID when negative. */
ANVIL_API int anvil_cpu_set_cache_limit(int64_t bytes);
ANVIL_API int64_t anvil_cpu_get_cache_limit(void);
/* Frees every cached block to the C heap and trims the heap (malloc_trim). Live blocks are untouched. */
ANVIL_API void anvil_cpu_release_cache(void);

#ifdef __cplusplus
}
#endif

#endif /* ANVIL_ANVIL_CPU_CACHE_H */
