// libanvil_dist: Gloo process groups behind anvil_dist.h. A group is a gloo::rendezvous::Context joined
// to a full mesh of TCP pairs through TcpStore; all-reduce is Gloo's ring algorithm (sum), broadcast
// and barrier are Gloo's. Buffers are host memory (CPU tensors).
//
// Errors: Gloo throws gloo::IoException when a peer closes its socket (a dead rank) and on timeouts;
// every entry point catches, stores the message in anvil_last_error and returns ANVIL_E_DIST.
#include <gloo/allreduce.h>
#include <gloo/barrier.h>
#include <gloo/broadcast.h>
#include <gloo/config.h>
#include <gloo/math.h>
#include <gloo/rendezvous/context.h>
#include <gloo/rendezvous/prefix_store.h>
#include <gloo/transport/tcp/device.h>

#include <chrono>
#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "anvil/anvil_dist.h"
#include "store.h"

namespace {

struct Group {
  std::shared_ptr<gloo::rendezvous::Context> context;
  std::vector<char> bucket;  // packing space, grown to the largest bucket used
};

Group* group(int64_t handle) { return reinterpret_cast<Group*>(static_cast<intptr_t>(handle)); }

std::chrono::milliseconds timeoutOf(const Group* g, int64_t ms) {
  return ms > 0 ? std::chrono::milliseconds(ms) : g->context->getTimeout();
}

template <typename F>
int guarded(const char* op, F&& body) {
  try {
    body();
    return ANVIL_OK;
  } catch (const std::exception& e) {
    return anvil_set_error(ANVIL_E_DIST, (std::string(op) + ": " + e.what()).c_str());
  } catch (...) {
    return anvil_set_error(ANVIL_E_DIST, (std::string(op) + ": unknown error").c_str());
  }
}

// One ring all-reduce of `count` elements of T at data, in place.
template <typename T>
void allreduceOne(Group* g, T* data, size_t count, std::chrono::milliseconds timeout) {
  gloo::AllreduceOptions opts(g->context);
  opts.setOutput(data, count);
  opts.setAlgorithm(gloo::AllreduceOptions::Algorithm::RING);
  opts.setReduceFunction(static_cast<void (*)(void*, const void*, const void*, size_t)>(&gloo::sum<T>));
  opts.setTimeout(timeout);
  gloo::allreduce(opts);
}

// Packs consecutive buffers into buckets of at most bucketElems, reduces each bucket, unpacks.
template <typename T>
void allreduceBucketed(Group* g, const int64_t* ptrs, const int64_t* counts, int64_t n, size_t bucketElems,
                       std::chrono::milliseconds timeout) {
  int64_t i = 0;
  while (i < n) {
    size_t count = static_cast<size_t>(counts[i]);
    if (count >= bucketElems) {  // a big buffer goes alone, in place
      allreduceOne(g, reinterpret_cast<T*>(static_cast<intptr_t>(ptrs[i])), count, timeout);
      i++;
      continue;
    }
    int64_t j = i;
    size_t total = 0;
    while (j < n && total + static_cast<size_t>(counts[j]) <= bucketElems) total += static_cast<size_t>(counts[j++]);
    if (g->bucket.size() < total * sizeof(T)) g->bucket.resize(total * sizeof(T));
    T* bucket = reinterpret_cast<T*>(g->bucket.data());
    size_t off = 0;
    for (int64_t k = i; k < j; k++) {
      std::memcpy(bucket + off, reinterpret_cast<const T*>(static_cast<intptr_t>(ptrs[k])), counts[k] * sizeof(T));
      off += static_cast<size_t>(counts[k]);
    }
    allreduceOne(g, bucket, total, timeout);
    off = 0;
    for (int64_t k = i; k < j; k++) {
      std::memcpy(reinterpret_cast<T*>(static_cast<intptr_t>(ptrs[k])), bucket + off, counts[k] * sizeof(T));
      off += static_cast<size_t>(counts[k]);
    }
    i = j;
  }
}

}  // namespace

extern "C" {

int64_t anvil_dist_gloo_version(void) { return GLOO_VERSION; }

int anvil_dist_gloo_create(const char* store_host, int64_t store_port, const char* prefix, int64_t rank, int64_t world,
                           const char* hostname, int64_t timeout_ms, int64_t* out) {
  if (store_host == nullptr || prefix == nullptr || hostname == nullptr || out == nullptr || world < 1 || rank < 0 ||
      rank >= world || timeout_ms <= 0 || store_port <= 0 || store_port > 65535) {
    return anvil_set_error(ANVIL_E_INVALID, "anvil_dist_gloo_create: invalid arguments");
  }
  return guarded("gloo rendezvous", [&] {
    std::chrono::milliseconds timeout(timeout_ms);
    gloo::transport::tcp::attr attr;
    attr.hostname = hostname;
    auto device = gloo::transport::tcp::CreateDevice(attr);
    anvil_dist::TcpStore store(store_host, static_cast<int>(store_port), timeout);
    gloo::rendezvous::PrefixStore prefixed(prefix, store);
    auto context = std::make_shared<gloo::rendezvous::Context>(static_cast<int>(rank), static_cast<int>(world));
    context->setTimeout(timeout);
    context->connectFullMesh(prefixed, device);
    auto* g = new Group{context, {}};
    *out = static_cast<int64_t>(reinterpret_cast<intptr_t>(g));
  });
}

int anvil_dist_gloo_destroy(int64_t handle) {
  return guarded("gloo destroy", [&] { delete group(handle); });
}

int anvil_dist_gloo_allreduce(int64_t handle, const int64_t* ptrs, const int64_t* counts, int64_t n, int64_t dtype,
                              int64_t bucket_elems, int64_t timeout_ms) {
  if (handle == 0 || ptrs == nullptr || counts == nullptr || n < 0 || bucket_elems < 1 ||
      (dtype != ANVIL_F32 && dtype != ANVIL_DIST_F64)) {
    return anvil_set_error(ANVIL_E_INVALID, "anvil_dist_gloo_allreduce: invalid arguments");
  }
  Group* g = group(handle);
  return guarded("gloo all-reduce", [&] {
    auto timeout = timeoutOf(g, timeout_ms);
    if (dtype == ANVIL_F32) {
      allreduceBucketed<float>(g, ptrs, counts, n, static_cast<size_t>(bucket_elems), timeout);
    } else {
      allreduceBucketed<double>(g, ptrs, counts, n, static_cast<size_t>(bucket_elems), timeout);
    }
  });
}

int anvil_dist_gloo_broadcast(int64_t handle, int64_t data, int64_t bytes, int64_t root, int64_t timeout_ms) {
  if (handle == 0 || data == 0 || bytes < 0 || root < 0) {
    return anvil_set_error(ANVIL_E_INVALID, "anvil_dist_gloo_broadcast: invalid arguments");
  }
  Group* g = group(handle);
  if (root >= g->context->size) return anvil_set_error(ANVIL_E_INVALID, "anvil_dist_gloo_broadcast: root out of range");
  return guarded("gloo broadcast", [&] {
    gloo::BroadcastOptions opts(g->context);
    opts.setOutput(reinterpret_cast<char*>(static_cast<intptr_t>(data)), static_cast<size_t>(bytes));
    opts.setRoot(static_cast<int>(root));
    opts.setTimeout(timeoutOf(g, timeout_ms));
    gloo::broadcast(opts);
  });
}

int anvil_dist_gloo_barrier(int64_t handle, int64_t timeout_ms) {
  if (handle == 0) return anvil_set_error(ANVIL_E_INVALID, "anvil_dist_gloo_barrier: invalid arguments");
  Group* g = group(handle);
  return guarded("gloo barrier", [&] {
    gloo::BarrierOptions opts(g->context);
    opts.setTimeout(timeoutOf(g, timeout_ms));
    gloo::barrier(opts);
  });
}

}  // extern "C"
