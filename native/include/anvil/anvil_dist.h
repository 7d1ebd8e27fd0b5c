/*
 * anvil_dist.h: the C ABI of Anvil's data-parallel collectives (libanvil_dist for Gloo on CPUs; the
 * NCCL functions live in libanvil_cuda). Separate from anvil.h because libanvil_dist exists only where
 * Gloo was found at build time, and NCCL is loaded at run time.
 *
 * Rules, as anvil.h: plain C, 0 or an ANVIL_E_* code, the message in anvil_last_error() (the error slot
 * lives in libanvil_cpu, which both libraries link). Java (ai.anvil.dist) validates every argument first.
 *
 * A group is an opaque int64 handle. Every collective is blocking, is called by every rank of the group
 * in the same order, and fails (ANVIL_E_DIST, message naming the peer or the timeout) when a peer dies or
 * does not answer within the timeout: a dead rank fails the job instead of hanging it.
 */
#ifndef ANVIL_ANVIL_DIST_H
#define ANVIL_ANVIL_DIST_H

#include <stdint.h>

#include "anvil/anvil.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A collective failed: a peer closed its connection, timed out, or the rendezvous could not be made. */
#define ANVIL_E_DIST 16

/* Element types of the all-reduce (ANVIL_F32 from anvil.h, and fp64 for exact counts and loss sums). */
#define ANVIL_DIST_F64 16

/* ---------------------------------------------------------------------------------------------------
 * Gloo (libanvil_dist): full mesh of TCP pairs, ring all-reduce.
 * ------------------------------------------------------------------------------------------------- */

/* Gloo's version as major*10000 + minor*100 + patch (what the library was built against). */
ANVIL_API int64_t anvil_dist_gloo_version(void);

/*
 * Joins a group of `world` ranks as `rank`. The rendezvous store is the key-value server at
 * store_host:store_port (ai.anvil.dist.StoreServer, run by rank 0; protocol in native/dist/store.cpp);
 * keys are namespaced by `prefix` so one server can host several groups. `hostname` is the address the
 * other ranks reach this one at (this rank's TCP device binds to it, ephemeral port). timeout_ms bounds
 * the rendezvous and is every later collective's default timeout. On success *group holds the handle.
 */
ANVIL_API int anvil_dist_gloo_create(const char* store_host, int64_t store_port, const char* prefix, int64_t rank,
                                     int64_t world, const char* hostname, int64_t timeout_ms, int64_t* group);

/* Frees the group and closes its connections (peers blocked on it then fail). */
ANVIL_API int anvil_dist_gloo_destroy(int64_t group);

/*
 * In-place sum over ranks of n host buffers: buffer i is counts[i] elements of dtype at address ptrs[i].
 * The buffers are packed into buckets of at most bucket_elems elements (one Gloo ring all-reduce each;
 * a buffer larger than a bucket is reduced in place, without packing). timeout_ms <= 0 uses the group's.
 */
ANVIL_API int anvil_dist_gloo_allreduce(int64_t group, const int64_t* ptrs, const int64_t* counts, int64_t n,
                                        int64_t dtype, int64_t bucket_elems, int64_t timeout_ms);

/* Copies `bytes` bytes at address data on rank root to the same place on every other rank. */
ANVIL_API int anvil_dist_gloo_broadcast(int64_t group, int64_t data, int64_t bytes, int64_t root, int64_t timeout_ms);

/* Returns when every rank has entered it. */
ANVIL_API int anvil_dist_gloo_barrier(int64_t group, int64_t timeout_ms);

/* ---------------------------------------------------------------------------------------------------
 * NCCL (libanvil_cuda, kernels/dist/nccl.cu): libnccl.so.2 is dlopen'ed on first use; no NCCL headers or
 * link-time dependency. Buffers are device addresses; work is enqueued on `stream` (0: the default).
 * ------------------------------------------------------------------------------------------------- */

/* Loads libnccl.so.2 if not yet loaded; *version gets NCCL's version code. ANVIL_E_UNSUPPORTED with the
 * dlopen message when it is missing. */
ANVIL_API int anvil_cuda_nccl_load(int64_t* version);

/* Writes NCCL's 128-byte unique id (rank 0 makes it; the rendezvous carries it to the others). */
ANVIL_API int anvil_cuda_nccl_unique_id(char* id128);

/* Joins a communicator of `world` ranks as `rank` on the current CUDA device; *comm gets the handle. */
ANVIL_API int anvil_cuda_nccl_init(const char* id128, int64_t world, int64_t rank, int64_t* comm);

ANVIL_API int anvil_cuda_nccl_destroy(int64_t comm);

/* In-place sum of `count` elements of dtype (ANVIL_F32, ANVIL_BF16 or ANVIL_DIST_F64) at device address data, on stream. */
ANVIL_API int anvil_cuda_nccl_allreduce(int64_t comm, int64_t data, int64_t count, int64_t dtype, int64_t stream);

/* In-place broadcast of `bytes` bytes at device address data from rank root, on stream. */
ANVIL_API int anvil_cuda_nccl_broadcast(int64_t comm, int64_t data, int64_t bytes, int64_t root, int64_t stream);

#ifdef __cplusplus
}
#endif

#endif /* ANVIL_ANVIL_DIST_H */
