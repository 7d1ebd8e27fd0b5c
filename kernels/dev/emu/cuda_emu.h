// kernels/dev/emu/cuda_emu.h: a CPU emulator of the CUDA subset the tensor-core kernels use, so that the
// playgrounds' checks (kernels/dev/gemm, kernels/dev/attention) run on a machine without a GPU and catch
// wrong index math, masks, fragment layouts, pipeline ordering and out-of-bounds accesses before the
// kernels ever meet a GPU. Not a simulator of timing: no figure from it means anything about speed.
//
// Force-included (g++ -include) with -DANVIL_HOST_EMULATION; kernels/dev/emu/run_emu.sh builds and runs.
//   - every CUDA thread of a block is an OS thread; blocks run one after another;
//   - __syncthreads is a barrier of the block; warp collectives (__shfl_xor_sync, ldmatrix, mma.sync)
//     exchange through a per-warp buffer between two barriers of the warp, computing each lane's result
//     from the PTX ISA's fragment layouts (written here from the ISA, independently of the kernels);
//   - cp.async copies are deferred: queued per thread, grouped at commit, performed at wait_group, so a
//     read of shared memory before its wait sees stale data (shared memory starts as 0xff: NaN);
//   - cp.async checks 16-byte alignment of both addresses, the shared bounds, and that a copied global
//     chunk lies inside one cudaMalloc allocation; with -fsanitize=address every plain global access is
//     checked too (cudaMalloc is malloc);
//   - ldmatrix checks alignment and bounds; a failed check aborts with the block, thread and address;
//   - sm_90 (matmul/gemm_sm90.cuh): mbarriers (arrivals, transaction bytes, phases; a wait that does not
//     complete in 60 s aborts as a deadlock), TMA 3-D tile loads (128-byte swizzle, zero fill
//     outside the tensor), wgmma m64n256k16 / m64n128k16 with the transpose bits (K-major and M/N-major
//     operands) and scale-d, reading both operands through their shared-memory descriptors (decoded from
//     the PTX ISA's descriptor format and swizzle rule), executed at issue;
//   - thread-block clusters (launches with a cluster size, kernels/dev/gemm/gemm_sm90_cluster.cuh): the
//     blocks of one cluster run at the same time (clusters one after another), with the cluster barrier,
//     %cluster_ctarank, mapa (a shared::cluster address is (rank + 1) << 24 | the CTA offset), arrivals on a
//     peer's mbarrier and multicast TMA loads (the box written into every CTA of the mask, completing bytes
//     on each one's mbarrier at the same offset); a remote arrival or multicast into a CTA whose threads
//     have all exited aborts (on the GPU: undefined behaviour, the reason for the barrier before exit).
//     mbarriers are per block (keyed by block and offset), so a kernel in a cluster keeps them in dynamic
//     shared memory (__shared__ is `static` here: one copy for the blocks that run at the same time).
//     Its wgmma twins are checked across their flight: the operands are hashed at issue and read again
//     at the wait_group that completes them, after a random pause; a write in between aborts.
// Device memory is host memory: cudaMemcpy is memcpy, kernels run synchronously at launch.
#pragma once

#include <cuda.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <atomic>
#include <barrier>
#include <chrono>
#include <condition_variable>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

namespace anvil::emu {

[[noreturn]] inline void fail(const char* what, uintptr_t address);

struct Warp {
  explicit Warp(int n) : bar(n) {}
  std::barrier<> bar;
  uint32_t slot[32][12];
};

// One wgmma's shared-memory operands (descriptors) and a hash of the values it read at issue.
struct WgmmaRead {
  uint64_t desc_a, desc_b;
  int n;
  bool trans_a, trans_b;
  uint64_t hash;
};

struct WarpGroup {
  std::barrier<> bar{128};
  float* d[128];
  // the checked wgmma twins (wgmma_checked & co.): reads issued since the last commit, and committed groups
  // not yet waited for (kept by the warpgroup's thread 0)
  std::vector<WgmmaRead> open;
  std::deque<std::vector<WgmmaRead>> in_flight;
};

struct Block {
  dim3 grid, block;
  uint3 index;
  std::vector<unsigned char> smem;
  std::unique_ptr<std::barrier<>> bar;
  std::vector<std::unique_ptr<Warp>> warps;
  std::vector<std::unique_ptr<WarpGroup>> groups;  // when the block is whole warpgroups
  // its cluster: the blocks by rank (itself included; just itself without clusters), the cluster barrier
  // over all their threads, and how many of this block's threads have not exited
  unsigned cluster_rank = 0;
  std::vector<Block*> cluster;
  std::barrier<>* cluster_bar = nullptr;
  std::atomic<int> live{0};
};

struct Copy {
  unsigned char* dst;
  const unsigned char* src;
  bool valid;
};

inline thread_local Block* tl_block = nullptr;
inline thread_local uint3 tl_thread;
inline thread_local std::vector<Copy> tl_open;
inline thread_local std::vector<std::vector<Copy>> tl_groups;
inline thread_local std::optional<std::barrier<>::arrival_token> tl_cluster_token;

// cudaMalloc'ed ranges, for the cp.async source check.
inline std::mutex& allocations_mutex() {
  static std::mutex m;
  return m;
}
inline std::map<uintptr_t, size_t>& allocations() {
  static std::map<uintptr_t, size_t> a;
  return a;
}

inline bool inside_allocation(uintptr_t p, size_t bytes) {
  std::lock_guard<std::mutex> lock(allocations_mutex());
  auto& a = allocations();
  auto it = a.upper_bound(p);
  if (it == a.begin()) return false;
  --it;
  return p >= it->first && p + bytes <= it->first + it->second;
}

[[noreturn]] inline void fail(const char* what, uintptr_t address) {
  fprintf(stderr, "EMU FAIL: %s at 0x%llx (block %u,%u,%u thread %u)\n", what, (unsigned long long)address,
          tl_block ? tl_block->index.x : 0, tl_block ? tl_block->index.y : 0, tl_block ? tl_block->index.z : 0,
          tl_thread.x);
  std::abort();
}

inline int linear_thread() { return static_cast<int>(tl_thread.x + tl_thread.y * tl_block->block.x); }
inline int lane() { return linear_thread() & 31; }
inline Warp& warp() { return *tl_block->warps[linear_thread() >> 5]; }

inline void syncthreads() { tl_block->bar->arrive_and_wait(); }

template <typename T>
T shfl_xor(T v, int offset) {
  // 32- or 64-bit values (the hardware moves a double as two 32-bit shuffles)
  static_assert(sizeof(T) == 4 || sizeof(T) == 8, "32- or 64-bit shuffles");
  Warp& w = warp();
  memcpy(&w.slot[lane()][0], &v, sizeof(T));
  w.bar.arrive_and_wait();
  T r;
  memcpy(&r, &w.slot[lane() ^ offset][0], sizeof(T));
  w.bar.arrive_and_wait();
  return r;
}

inline unsigned char* smem_at(uint32_t address, size_t bytes) {
  if (address + bytes > tl_block->smem.size()) fail("shared memory access out of bounds", address);
  return tl_block->smem.data() + address;
}

inline float bf16_bits_to_float(uint16_t h) {
  uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  memcpy(&f, &u, 4);
  return f;
}

// ldmatrix .x4 [.trans]: lanes 8i..8i+7 give the rows of matrix i; lane l receives, of each matrix,
// (row l/4, columns 2(l%4), 2(l%4)+1), or with .trans (rows 2(l%4), 2(l%4)+1, column l/4).
inline void ldmatrix(uint32_t (&r)[4], uint32_t address, bool trans) {
  if (address % 16) fail("ldmatrix row address not 16-byte aligned", address);
  smem_at(address, 16);
  Warp& w = warp();
  const int l = lane();
  w.slot[l][0] = address;
  w.bar.arrive_and_wait();
  for (int m = 0; m < 4; ++m) {
    uint16_t lo, hi;
    if (!trans) {
      const unsigned char* row = smem_at(w.slot[8 * m + l / 4][0], 16);
      memcpy(&lo, row + 4 * (l % 4), 2);
      memcpy(&hi, row + 4 * (l % 4) + 2, 2);
    } else {
      memcpy(&lo, smem_at(w.slot[8 * m + 2 * (l % 4)][0], 16) + 2 * (l / 4), 2);
      memcpy(&hi, smem_at(w.slot[8 * m + 2 * (l % 4) + 1][0], 16) + 2 * (l / 4), 2);
    }
    r[m] = static_cast<uint32_t>(lo) | (static_cast<uint32_t>(hi) << 16);
  }
  w.bar.arrive_and_wait();
}

// mma.sync.m16n8k16.row.col f32.bf16.bf16.f32, lane l = 4g + q:
//   A (16x16): a[0] = A(g, 2q..2q+1), a[1] = A(g+8, 2q..), a[2] = A(g, 2q+8..), a[3] = A(g+8, 2q+8..)
//   B (16x8):  b0 = B(2q..2q+1, g), b1 = B(2q+8..2q+9, g)
//   C/D (16x8): d[0], d[1] = D(g, 2q), D(g, 2q+1); d[2], d[3] = D(g+8, 2q), D(g+8, 2q+1)
inline void mma(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  Warp& w = warp();
  const int l = lane();
  for (int i = 0; i < 4; ++i) w.slot[l][i] = a[i];
  w.slot[l][4] = b0;
  w.slot[l][5] = b1;
  w.bar.arrive_and_wait();
  auto A = [&](int row, int col) {
    const int owner = (row % 8) * 4 + (col % 8) / 2, reg = (row / 8) + 2 * (col / 8);
    const uint32_t bits = w.slot[owner][reg];
    return bf16_bits_to_float(static_cast<uint16_t>((col % 2) ? bits >> 16 : bits & 0xffff));
  };
  auto B = [&](int k, int n) {
    const int owner = n * 4 + (k % 8) / 2, reg = 4 + k / 8;
    const uint32_t bits = w.slot[owner][reg];
    return bf16_bits_to_float(static_cast<uint16_t>((k % 2) ? bits >> 16 : bits & 0xffff));
  };
  float out[4];
  for (int e = 0; e < 4; ++e) {
    const int row = l / 4 + 8 * (e / 2), col = 2 * (l % 4) + (e % 2);
    float acc = d[e];
    for (int k = 0; k < 16; ++k) acc += A(row, k) * B(k, col);
    out[e] = acc;
  }
  w.bar.arrive_and_wait();
  for (int e = 0; e < 4; ++e) d[e] = out[e];
}

inline void cp_async16(uint32_t dst, const void* src, bool valid) {
  if (dst % 16) fail("cp.async shared address not 16-byte aligned", dst);
  const uintptr_t s = reinterpret_cast<uintptr_t>(src);
  if (s % 16) fail("cp.async global address not 16-byte aligned", s);
  if (valid && !inside_allocation(s, 16)) fail("cp.async reads outside every allocation", s);
  tl_open.push_back({smem_at(dst, 16), static_cast<const unsigned char*>(src), valid});
}

inline void commit() {
  tl_groups.push_back(std::move(tl_open));
  tl_open.clear();
}

inline void wait(size_t pending) {
  while (tl_groups.size() > pending) {
    for (const Copy& c : tl_groups.front()) {
      if (c.valid) memcpy(c.dst, c.src, 16);
      else memset(c.dst, 0, 16);
    }
    tl_groups.erase(tl_groups.begin());
  }
}

// kernel(args...) over grid x block (1-D or 2-D blocks), each CUDA thread an OS thread, one cluster of
// `cluster` blocks (consecutive along x; 1 without clusters) at a time, the blocks of a cluster together.
template <typename... KernelArgs>
struct Launch {
  void (*kernel)(KernelArgs...);
  dim3 grid, block;
  size_t smem;
  unsigned cluster;
  Launch(void (*k)(KernelArgs...), dim3 g, dim3 b, size_t s, unsigned c = 1)
      : kernel(k), grid(g), block(b), smem(s), cluster(c) {}
  template <typename... Args>
  void operator()(Args&&... args) {
    const int threads = static_cast<int>(block.x * block.y * block.z);
    if (block.z != 1 || threads % 32) fail("emulator: 1-D or 2-D blocks of whole warps only", threads);
    if (cluster == 0 || grid.x % cluster) fail("emulator: grid.x not a multiple of the cluster size", grid.x);
    for (unsigned z = 0; z < grid.z; ++z)
      for (unsigned y = 0; y < grid.y; ++y)
        for (unsigned x0 = 0; x0 < grid.x; x0 += cluster) {
          std::barrier<> cluster_bar(static_cast<std::ptrdiff_t>(threads) * cluster);
          std::vector<std::unique_ptr<Block>> blocks;
          for (unsigned r = 0; r < cluster; ++r) {
            auto blk = std::make_unique<Block>();
            blk->grid = grid;
            blk->block = block;
            blk->index = make_uint3(x0 + r, y, z);
            blk->smem.assign(smem > 0 ? smem : 16, 0xff);
            blk->bar = std::make_unique<std::barrier<>>(threads);
            for (int w = 0; w < threads / 32; ++w) blk->warps.push_back(std::make_unique<Warp>(32));
            if (threads % 128 == 0)
              for (int w = 0; w < threads / 128; ++w) blk->groups.push_back(std::make_unique<WarpGroup>());
            blk->cluster_rank = r;
            blk->cluster_bar = &cluster_bar;
            blk->live = threads;
            blocks.push_back(std::move(blk));
          }
          for (auto& blk : blocks)
            for (auto& peer : blocks) blk->cluster.push_back(peer.get());
          std::vector<std::thread> pool;
          for (auto& owned : blocks)
            for (int t = 0; t < threads; ++t)
              pool.emplace_back([&, t, blk = owned.get()] {
                tl_block = blk;
                tl_thread = make_uint3(static_cast<unsigned>(t) % block.x, static_cast<unsigned>(t) / block.x, 0);
                tl_open.clear();
                tl_groups.clear();
                tl_cluster_token.reset();
                kernel(args...);
                // an exited thread no longer takes part in barriers (as on sm_70 and later)
                blk->warps[t >> 5]->bar.arrive_and_drop();
                if (!blk->groups.empty()) blk->groups[t >> 7]->bar.arrive_and_drop();
                blk->bar->arrive_and_drop();
                blk->cluster_bar->arrive_and_drop();
                --blk->live;
              });
          for (auto& th : pool) th.join();
        }
  }
};
template <typename... KernelArgs>
Launch(void (*)(KernelArgs...), dim3, dim3, size_t) -> Launch<KernelArgs...>;
template <typename... KernelArgs>
Launch(void (*)(KernelArgs...), dim3, dim3, size_t, unsigned) -> Launch<KernelArgs...>;

// ---- sm_90: mbarriers, TMA, wgmma ------------------------------------------------------------------

struct MBarrier {
  int count = 0, pending = 0;
  long long tx = 0;
  unsigned phase = 0;
};

inline std::mutex& mbar_mutex() {
  static std::mutex m;
  return m;
}
inline std::condition_variable& mbar_cv() {
  static std::condition_variable cv;
  return cv;
}
inline std::map<std::pair<const Block*, uint32_t>, MBarrier>& mbarriers() {  // by block and shared offset
  static std::map<std::pair<const Block*, uint32_t>, MBarrier> m;
  return m;
}

inline void mbar_complete_if_done(MBarrier& b) {
  if (b.pending == 0 && b.tx == 0) {
    ++b.phase;
    b.pending = b.count;
    mbar_cv().notify_all();
  }
}

inline void mbar_init(uint32_t bar, int count) {
  if (bar % 8) fail("mbarrier not 8-byte aligned", bar);
  std::lock_guard<std::mutex> lock(mbar_mutex());
  mbarriers()[{tl_block, bar}] = MBarrier{count, count, 0, 0};
}

// The mbarrier at offset bar of block blk (this thread's block by default).
inline MBarrier& mbar_get(uint32_t bar, const Block* blk = nullptr) {
  auto it = mbarriers().find({blk ? blk : tl_block, bar});
  if (it == mbarriers().end()) fail("mbarrier used before init", bar);
  return it->second;
}

inline void mbar_arrive_on(Block* blk, uint32_t bar) {
  std::lock_guard<std::mutex> lock(mbar_mutex());
  MBarrier& b = mbar_get(bar, blk);
  if (b.pending <= 0) fail("mbarrier arrival beyond its count", bar);
  --b.pending;
  mbar_complete_if_done(b);
}

inline void mbar_arrive(uint32_t bar) { mbar_arrive_on(tl_block, bar); }

inline void mbar_expect_tx(uint32_t bar, int bytes) {
  std::lock_guard<std::mutex> lock(mbar_mutex());
  MBarrier& b = mbar_get(bar);
  b.tx += bytes;
  if (b.pending <= 0) fail("mbarrier arrival beyond its count", bar);
  --b.pending;
  mbar_complete_if_done(b);
}

// Bytes landing on the mbarrier of block blk (this thread's by default). The count may go below zero while
// arrivals are pending (a peer's multicast can land before this CTA's expect_tx, as the PTX ISA allows).
inline void mbar_complete_tx(uint32_t bar, int bytes, Block* blk = nullptr) {
  std::lock_guard<std::mutex> lock(mbar_mutex());
  MBarrier& b = mbar_get(bar, blk);
  b.tx -= bytes;
  if (b.tx < 0 && b.pending == 0) fail("mbarrier transaction count below zero", bar);
  mbar_complete_if_done(b);
}

// try_wait.parity P: true once the phase of parity P has completed (the current phase's parity differs).
inline void mbar_wait(uint32_t bar, int parity) {
  std::unique_lock<std::mutex> lock(mbar_mutex());
  if (!mbar_cv().wait_for(lock, std::chrono::seconds(60),
                          [&] { return static_cast<int>(mbar_get(bar).phase & 1) != parity; }))
    fail("mbarrier wait timed out (a deadlock in the pipeline?)", bar);
}

// Element (row, k) of a K-major operand described by desc (bf16, 128-byte swizzle): logical address
// start + (row / 8) * SBO + (row % 8) * 128 + 2k, then bits [4, 7) ^= bits [7, 10).
inline float desc_element(uint64_t desc, int row, int k) {
  const uint32_t start = static_cast<uint32_t>(desc & 0x3FFF) << 4;
  const uint32_t sbo = static_cast<uint32_t>((desc >> 32) & 0x3FFF) << 4;
  if ((desc >> 62) != 1) fail("wgmma descriptor: only the 128-byte swizzle is emulated", static_cast<uintptr_t>(desc));
  if ((desc >> 49) & 7) fail("wgmma descriptor: base offset not emulated", static_cast<uintptr_t>(desc));
  const uint32_t logical = start + (row / 8) * sbo + (row % 8) * 128 + 2 * k;
  const uint32_t physical = logical ^ (((logical >> 7) & 7) << 4);
  uint16_t h;
  memcpy(&h, smem_at(physical, 2), 2);
  return bf16_bits_to_float(h);
}

// The 3-D tensor maps of matmul/gemm_sm90.cuh (and the playground's cluster version): bf16 (inner,
// outer, items), row stride ld, item stride item_stride (elements), boxes of 64 (inner) x box_outer x 1.
struct TensorMap3 {
  const __nv_bfloat16* base;
  int64_t inner, outer, items, ld, item_stride;
  int box_outer;
};
static_assert(sizeof(TensorMap3) <= sizeof(CUtensorMap), "fits the opaque map");

inline cudaError_t make_tensor_map_3d(CUtensorMap* map, const __nv_bfloat16* base, int64_t inner, int64_t outer,
                                      int64_t ld, int64_t items, int64_t item_stride, int box_outer) {
  if (reinterpret_cast<uintptr_t>(base) % 16 || (ld * 2) % 16 || (item_stride * 2) % 16 || box_outer > 256 ||
      box_outer <= 0 || inner <= 0 || outer <= 0 || items <= 0)
    return cudaErrorInvalidValue;  // what cuTensorMapEncodeTiled refuses for this use
  TensorMap3 t{base, inner, outer, items, ld, item_stride, box_outer};
  memset(map, 0, sizeof(*map));
  memcpy(map, &t, sizeof(t));
  return cudaSuccess;
}

// cp.async.bulk.tensor.3d ... complete_tx: the box at (c0 inner, c1 outer, c2 item), 128-byte swizzled: box
// row r (outer index c1 + r) is one 128-byte line of 64 inner elements, its 16-byte chunk c landing at
// r * 128 + ((c ^ (r % 8)) * 16); elements outside the tensor are 0.
// (into block blk's shared memory and mbarrier: this thread's block by default)
inline void tma_load_3d(uint32_t dst, const CUtensorMap* map, uint32_t bar, int c0, int c1, int c2,
                        Block* blk = nullptr) {
  TensorMap3 t;
  memcpy(&t, map, sizeof(t));
  if (!blk) blk = tl_block;
  if (dst % 1024) fail("TMA destination of a 128-byte swizzled box not 1024-byte aligned", dst);
  if (dst + static_cast<size_t>(t.box_outer) * 128 > blk->smem.size()) fail("TMA box outside shared memory", dst);
  unsigned char* out = blk->smem.data() + dst;
  for (int r = 0; r < t.box_outer; ++r)
    for (int e = 0; e < 64; ++e) {
      const int64_t row = static_cast<int64_t>(c1) + r, col = static_cast<int64_t>(c0) + e, item = c2;
      uint16_t v = 0;
      if (row >= 0 && row < t.outer && col >= 0 && col < t.inner && item >= 0 && item < t.items)
        memcpy(&v, t.base + item * t.item_stride + row * t.ld + col, 2);
      const int chunk = e / 8, within = e % 8;
      memcpy(out + r * 128 + ((chunk ^ (r % 8)) * 16) + within * 2, &v, 2);
    }
  mbar_complete_tx(bar, t.box_outer * 64 * 2, blk);
}

// ---- clusters ---------------------------------------------------------------------------------------

inline unsigned cluster_ctarank() { return tl_block->cluster_rank; }
inline void cluster_arrive() {
  if (tl_cluster_token) fail("cluster barrier: arrive twice without a wait", 0);
  tl_cluster_token = tl_block->cluster_bar->arrive();
}
inline void cluster_wait() {
  if (!tl_cluster_token) fail("cluster barrier: wait without an arrive", 0);
  tl_block->cluster_bar->wait(std::move(*tl_cluster_token));
  tl_cluster_token.reset();
}

// The peer block of a cluster rank, which must still have a live thread.
inline Block* cluster_block(unsigned rank, const char* what) {
  if (rank >= tl_block->cluster.size()) fail(what, rank);
  Block* blk = tl_block->cluster[rank];
  if (blk->live.load() == 0) fail("remote access to a CTA whose threads have all exited", rank);
  return blk;
}

// mapa.shared::cluster: the shared::cluster address of offset `address` in the CTA of cluster rank `rank`.
inline uint32_t mapa_shared(uint32_t address, unsigned rank) {
  if (address >= (1u << 24)) fail("mapa of an address that is not a CTA shared-memory offset", address);
  if (rank >= tl_block->cluster.size()) fail("mapa to a rank outside the cluster", rank);
  return ((rank + 1) << 24) | address;
}

// mbarrier.arrive.release.cluster.shared::cluster on a shared::cluster address (a plain CTA offset names
// this CTA's own barrier).
inline void mbar_arrive_cluster(uint32_t address) {
  if (address < (1u << 24)) return mbar_arrive(address);
  mbar_arrive_on(cluster_block((address >> 24) - 1, "mbarrier arrival on a rank outside the cluster"),
                 address & 0xffffff);
}

// cp.async.bulk.tensor ... multicast::cluster: the box into every CTA of `mask` at the same offset dst,
// completing its bytes on each one's mbarrier at offset bar.
inline void tma_load_3d_multicast(uint32_t dst, const CUtensorMap* map, uint32_t bar, int c0, int c1, int c2,
                                  uint16_t mask) {
  if (mask == 0) fail("multicast TMA load with an empty CTA mask", 0);
  for (unsigned r = 0; r < 16; ++r)
    if (mask >> r & 1) tma_load_3d(dst, map, bar, c0, c1, c2, cluster_block(r, "multicast to a rank outside the cluster"));
}

// Element (mn, k) of an M/N-major operand (the transpose bit set) in 128-byte swizzle: 64 M/N elements per
// 128-byte line, k rows: logical address start + (mn / 64) * LBO + (k / 8) * SBO + (k % 8) * 128 + 2 (mn % 64)
// (PTX ISA: for MN-major swizzled layouts LBO steps between swizzle-width groups of M/N, SBO between
// 8-deep groups of k), then bits [4, 7) ^= bits [7, 10).
inline float desc_element_mn(uint64_t desc, int mn, int k) {
  const uint32_t start = static_cast<uint32_t>(desc & 0x3FFF) << 4;
  const uint32_t lbo = static_cast<uint32_t>((desc >> 16) & 0x3FFF) << 4;
  const uint32_t sbo = static_cast<uint32_t>((desc >> 32) & 0x3FFF) << 4;
  if ((desc >> 62) != 1) fail("wgmma descriptor: only the 128-byte swizzle is emulated", static_cast<uintptr_t>(desc));
  if ((desc >> 49) & 7) fail("wgmma descriptor: base offset not emulated", static_cast<uintptr_t>(desc));
  const uint32_t logical = start + (mn / 64) * lbo + (k / 8) * sbo + (k % 8) * 128 + 2 * (mn % 64);
  const uint32_t physical = logical ^ (((logical >> 7) & 7) << 4);
  uint16_t h;
  memcpy(&h, smem_at(physical, 2), 2);
  return bf16_bits_to_float(h);
}

// wgmma.mma_async m64nNk16 with the transpose bits: D[m][n] (+)= sum_k A(m, k) B(n, k), A from an M-major
// (trans_a) or K-major descriptor, B from an N-major (trans_b) or K-major one; scale_d 0 drops D's old value.
// Fragment of thread 32w + 4g + q: d[4j + 2h + e] = D(16w + g + 8h, 8j + 2q + e), j < N / 8.
template <int N>
inline void wgmma_m64nk16(float* d, uint64_t desc_a, uint64_t desc_b, bool trans_a, bool trans_b, int scale_d) {
  const int t = linear_thread();
  if (tl_block->groups.empty()) fail("wgmma outside a block of whole warpgroups", t);
  WarpGroup& wg = *tl_block->groups[t / 128];
  wg.d[t % 128] = d;
  wg.bar.arrive_and_wait();
  if (t % 128 == 0) {
    static thread_local float a[64][16], b[256][16];
    for (int m = 0; m < 64; ++m)
      for (int k = 0; k < 16; ++k) a[m][k] = trans_a ? desc_element_mn(desc_a, m, k) : desc_element(desc_a, m, k);
    for (int n = 0; n < N; ++n)
      for (int k = 0; k < 16; ++k) b[n][k] = trans_b ? desc_element_mn(desc_b, n, k) : desc_element(desc_b, n, k);
    if (!scale_d)
      for (int i = 0; i < 128; ++i)
        for (int j = 0; j < N / 2; ++j) wg.d[i][j] = 0.0f;
    for (int m = 0; m < 64; ++m)
      for (int n = 0; n < N; ++n) {
        float acc = 0;
        for (int k = 0; k < 16; ++k) acc += a[m][k] * b[n][k];
        const int owner = 32 * (m / 16) + 4 * (m % 8) + (n % 8) / 2;
        const int index = 4 * (n / 8) + 2 * ((m % 16) / 8) + n % 2;
        wg.d[owner][index] += acc;
      }
  }
  wg.bar.arrive_and_wait();
}

// ---- wgmma reads checked across their flight: on the GPU a wgmma reads its shared-memory operands any time
// between issue and the wait_group that completes it, so nothing may write them in between (a producer that
// refills a stage before every reader released it). The checked twins hash the operands at issue and read
// them again at that wait, after a random pause of up to 0.5 ms that widens the window for such a write
// (a peer CTA's multicast, another warpgroup's TMA); a difference aborts.
inline uint64_t wgmma_operand_hash(uint64_t desc_a, uint64_t desc_b, int n, bool trans_a, bool trans_b) {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&](float v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    h = (h ^ u) * 1099511628211ull;
  };
  for (int m = 0; m < 64; ++m)
    for (int k = 0; k < 16; ++k) mix(trans_a ? desc_element_mn(desc_a, m, k) : desc_element(desc_a, m, k));
  for (int j = 0; j < n; ++j)
    for (int k = 0; k < 16; ++k) mix(trans_b ? desc_element_mn(desc_b, j, k) : desc_element(desc_b, j, k));
  return h;
}

template <int N>
inline void wgmma_checked(float* d, uint64_t desc_a, uint64_t desc_b, bool trans_a, bool trans_b, int scale_d) {
  wgmma_m64nk16<N>(d, desc_a, desc_b, trans_a, trans_b, scale_d);
  const int t = linear_thread();
  if (t % 128 == 0)
    tl_block->groups[t / 128]->open.push_back(
        {desc_a, desc_b, N, trans_a, trans_b, wgmma_operand_hash(desc_a, desc_b, N, trans_a, trans_b)});
}

inline void wgmma_commit_checked() {
  const int t = linear_thread();
  if (t % 128) return;
  WarpGroup& wg = *tl_block->groups[t / 128];
  wg.in_flight.push_back(std::move(wg.open));
  wg.open.clear();
}

inline void wgmma_wait_checked(size_t pending) {
  const int t = linear_thread();
  if (t % 128) return;
  WarpGroup& wg = *tl_block->groups[t / 128];
  if (wg.in_flight.size() <= pending) return;
  static thread_local uint64_t seed = 0x9e3779b97f4a7c15ull ^ reinterpret_cast<uintptr_t>(&wg);
  seed = seed * 6364136223846793005ull + 1442695040888963407ull;
  std::this_thread::sleep_for(std::chrono::microseconds((seed >> 33) % 500));
  while (wg.in_flight.size() > pending) {
    for (const WgmmaRead& r : wg.in_flight.front())
      if (wgmma_operand_hash(r.desc_a, r.desc_b, r.n, r.trans_a, r.trans_b) != r.hash)
        fail("shared memory read by a wgmma in flight changed before its wait_group (a stage refilled before "
             "its release?)", static_cast<uintptr_t>(r.desc_a & 0x3FFF) << 4);
    wg.in_flight.pop_front();
  }
}

}  // namespace anvil::emu

#include "cuda_emu_gemm90.h"

// ---- the device side: builtins and intrinsics -----------------------------------------------------

#undef __shared__
#define __shared__ static
#undef __launch_bounds__
#define __launch_bounds__(...)
#define threadIdx (::anvil::emu::tl_thread)
#define blockIdx (::anvil::emu::tl_block->index)
#define blockDim (::anvil::emu::tl_block->block)
#define gridDim (::anvil::emu::tl_block->grid)
#define __syncthreads() ::anvil::emu::syncthreads()
#define __shfl_xor_sync(mask, ...) ::anvil::emu::shfl_xor(__VA_ARGS__)
#define __expf(...) std::exp(__VA_ARGS__)
#define __logf(...) std::log(__VA_ARGS__)
#define __log2f(...) std::log2(__VA_ARGS__)

using std::max;
using std::min;

// cuda_runtime.h's kernel-pointer overload exists only under nvcc.
template <typename... A>
cudaError_t cudaFuncSetAttribute(void (*)(A...), enum cudaFuncAttribute, int value) {
  return value <= 227 * 1024 ? cudaSuccess : cudaErrorInvalidValue;
}

namespace anvil::tc {
inline unsigned char* dynamic_smem() { return ::anvil::emu::tl_block->smem.data(); }
inline uint32_t smem_address(const void* p) {
  return static_cast<uint32_t>(static_cast<const unsigned char*>(p) - ::anvil::emu::tl_block->smem.data());
}
inline void cp_async16(uint32_t dst, const void* src, bool valid) { ::anvil::emu::cp_async16(dst, src, valid); }
inline void cp_async_commit() { ::anvil::emu::commit(); }
template <int N>
inline void cp_async_wait() {
  ::anvil::emu::wait(N);
}
inline void ldmatrix_x4(uint32_t (&r)[4], uint32_t address) { ::anvil::emu::ldmatrix(r, address, false); }
inline void ldmatrix_x4_trans(uint32_t (&r)[4], uint32_t address) { ::anvil::emu::ldmatrix(r, address, true); }
inline void mma_bf16(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  ::anvil::emu::mma(d, a, b0, b1);
}
}  // namespace anvil::tc

// ---- the runtime: host memory, synchronous kernels ------------------------------------------------

extern "C" {
inline cudaError_t emu_last_error = cudaSuccess;
cudaError_t cudaGetLastError(void) {
  const cudaError_t e = emu_last_error;
  emu_last_error = cudaSuccess;
  return e;
}
cudaError_t cudaPeekAtLastError(void) { return emu_last_error; }
const char* cudaGetErrorString(cudaError_t e) { return e == cudaSuccess ? "no error" : "emulated error"; }
const char* cudaGetErrorName(cudaError_t e) { return e == cudaSuccess ? "cudaSuccess" : "cudaErrorEmulated"; }
cudaError_t cudaFuncSetAttribute(const void*, enum cudaFuncAttribute, int value) {
  return value <= 227 * 1024 ? cudaSuccess : cudaErrorInvalidValue;
}
// Clusters of the launch's cluster size that fit at once: every SM holds one CTA (132 SMs).
cudaError_t cudaOccupancyMaxActiveClusters(int* clusters, const void*, const cudaLaunchConfig_t* config) {
  unsigned size = 1;
  for (unsigned i = 0; i < config->numAttrs; ++i)
    if (config->attrs[i].id == cudaLaunchAttributeClusterDimension)
      size = config->attrs[i].val.clusterDim.x * config->attrs[i].val.clusterDim.y * config->attrs[i].val.clusterDim.z;
  *clusters = static_cast<int>(132 / size);
  return cudaSuccess;
}
cudaError_t cudaGetDevice(int* device) {
  *device = 0;
  return cudaSuccess;
}
cudaError_t cudaDeviceGetAttribute(int* value, enum cudaDeviceAttr attr, int) {
  switch (attr) {
    case cudaDevAttrComputeCapabilityMajor: *value = 9; break;
    case cudaDevAttrComputeCapabilityMinor: *value = 0; break;
    case cudaDevAttrMultiProcessorCount: *value = 132; break;
    default: *value = 0;
  }
  return cudaSuccess;
}
cudaError_t cudaGetDeviceProperties(struct cudaDeviceProp* prop, int) {
  memset(prop, 0, sizeof(*prop));
  snprintf(prop->name, sizeof(prop->name), "CPU emulation of an sm_90 device (no timing)");
  prop->major = 9;
  prop->minor = 0;
  prop->multiProcessorCount = 132;
  prop->l2CacheSize = 50 << 20;
  return cudaSuccess;
}
cudaError_t cudaMalloc(void** p, size_t bytes) {
  *p = aligned_alloc(256, (bytes + 255) / 256 * 256);
  if (!*p) return cudaErrorMemoryAllocation;
  std::lock_guard<std::mutex> lock(anvil::emu::allocations_mutex());
  anvil::emu::allocations()[reinterpret_cast<uintptr_t>(*p)] = bytes;
  return cudaSuccess;
}
cudaError_t cudaFree(void* p) {
  if (!p) return cudaSuccess;
  {
    std::lock_guard<std::mutex> lock(anvil::emu::allocations_mutex());
    anvil::emu::allocations().erase(reinterpret_cast<uintptr_t>(p));
  }
  free(p);
  return cudaSuccess;
}
cudaError_t cudaMallocAsync(void** p, size_t bytes, cudaStream_t) { return cudaMalloc(p, bytes); }
cudaError_t cudaFreeAsync(void* p, cudaStream_t) { return cudaFree(p); }
cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, enum cudaMemcpyKind) {
  memcpy(dst, src, bytes);
  return cudaSuccess;
}
cudaError_t cudaMemset(void* p, int value, size_t bytes) {
  memset(p, value, bytes);
  return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void* p, int value, size_t bytes, cudaStream_t) { return cudaMemset(p, value, bytes); }
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, enum cudaMemcpyKind, cudaStream_t) {
  memcpy(dst, src, bytes);
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
cudaError_t cudaDeviceSynchronize(void) { return cudaSuccess; }
cudaError_t cudaEventCreate(cudaEvent_t* e) {
  *e = reinterpret_cast<cudaEvent_t>(new std::chrono::steady_clock::time_point());
  return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t e) {
  delete reinterpret_cast<std::chrono::steady_clock::time_point*>(e);
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t) {
  *reinterpret_cast<std::chrono::steady_clock::time_point*>(e) = std::chrono::steady_clock::now();
  return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t) { return cudaSuccess; }
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t a, cudaEvent_t b) {
  auto* t0 = reinterpret_cast<std::chrono::steady_clock::time_point*>(a);
  auto* t1 = reinterpret_cast<std::chrono::steady_clock::time_point*>(b);
  *ms = std::chrono::duration<float, std::milli>(*t1 - *t0).count();
  return cudaSuccess;
}
}  // extern "C"
