// NCCL for data-parallel training on GPUs (anvil_dist.h, "NCCL"). libnccl.so.2 is dlopen'ed on first use,
// so libanvil_cuda neither links nor needs NCCL: GPU machines get it from their CUDA install or the
// nvidia-nccl wheel, and a machine without it gets ANVIL_E_UNSUPPORTED with dlopen's message.
//
// No NCCL header is used: the few declarations below follow nccl.h (NCCL 2.x, stable since 2.0):
// ncclResult_t is an int, ncclComm_t an opaque pointer, ncclUniqueId 128 bytes passed by value.
// Host code only: collectives are enqueued on the caller's stream; the caller orders that stream
// after the backend's (ai.anvil.dist.NcclGroup synchronizes around each collective).
#include <dlfcn.h>

#include <cstring>
#include <mutex>
#include <string>

#include "anvil/anvil_dist.h"

namespace {

struct NcclUniqueId {
  char internal[128];
};
using NcclComm = void*;
using NcclStream = void*;

// nccl.h enums (values fixed by NCCL's ABI).
constexpr int kNcclSuccess = 0;
constexpr int kNcclFloat32 = 7, kNcclFloat64 = 8, kNcclBfloat16 = 9;
constexpr int kNcclSum = 0;
constexpr int kNcclInt8 = 0;

struct Nccl {
  int (*getVersion)(int*);
  int (*getUniqueId)(NcclUniqueId*);
  int (*commInitRank)(NcclComm*, int, NcclUniqueId, int);
  int (*commDestroy)(NcclComm);
  int (*allReduce)(const void*, void*, size_t, int, int, NcclComm, NcclStream);
  int (*broadcast)(const void*, void*, size_t, int, int, NcclComm, NcclStream);
  const char* (*getErrorString)(int);
};

std::mutex load_mutex;
Nccl nccl{};
void* handle = nullptr;
std::string load_error;

template <typename F>
bool bind(F* slot, const char* name) {
  *slot = reinterpret_cast<F>(dlsym(handle, name));
  if (*slot == nullptr) load_error = std::string("libnccl.so.2 lacks ") + name;
  return *slot != nullptr;
}

// Loads NCCL once; returns ANVIL_OK or ANVIL_E_UNSUPPORTED with the reason.
int ensureLoaded() {
  std::lock_guard<std::mutex> lock(load_mutex);
  if (handle != nullptr && load_error.empty()) return ANVIL_OK;
  if (handle == nullptr) {
    handle = dlopen("libnccl.so.2", RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      const char* why = dlerror();
      std::string msg = std::string("NCCL is not installed: dlopen(libnccl.so.2) failed: ") + (why ? why : "?") +
                        " (install NCCL with the CUDA toolkit, or pip install nvidia-nccl-cu12 and add its lib folder "
                        "to LD_LIBRARY_PATH)";
      return anvil_set_error(ANVIL_E_UNSUPPORTED, msg.c_str());
    }
    load_error.clear();
    bool ok = bind(&nccl.getVersion, "ncclGetVersion") && bind(&nccl.getUniqueId, "ncclGetUniqueId") &&
              bind(&nccl.commInitRank, "ncclCommInitRank") && bind(&nccl.commDestroy, "ncclCommDestroy") &&
              bind(&nccl.allReduce, "ncclAllReduce") && bind(&nccl.broadcast, "ncclBroadcast") &&
              bind(&nccl.getErrorString, "ncclGetErrorString");
    if (!ok) return anvil_set_error(ANVIL_E_UNSUPPORTED, load_error.c_str());
  }
  if (!load_error.empty()) return anvil_set_error(ANVIL_E_UNSUPPORTED, load_error.c_str());
  return ANVIL_OK;
}

int check(int result, const char* op) {
  if (result == kNcclSuccess) return ANVIL_OK;
  std::string msg = std::string(op) + ": " + nccl.getErrorString(result) + " (NCCL error " + std::to_string(result) + ")";
  return anvil_set_error(ANVIL_E_DIST, msg.c_str());
}

NcclComm comm(int64_t h) { return reinterpret_cast<NcclComm>(static_cast<intptr_t>(h)); }

}  // namespace

extern "C" {

ANVIL_API int anvil_cuda_nccl_load(int64_t* version) {
  int rc = ensureLoaded();
  if (rc != ANVIL_OK) return rc;
  int v = 0;
  rc = check(nccl.getVersion(&v), "ncclGetVersion");
  if (rc == ANVIL_OK && version != nullptr) *version = v;
  return rc;
}

ANVIL_API int anvil_cuda_nccl_unique_id(char* id128) {
  if (id128 == nullptr) return anvil_set_error(ANVIL_E_INVALID, "anvil_cuda_nccl_unique_id: null buffer");
  int rc = ensureLoaded();
  if (rc != ANVIL_OK) return rc;
  NcclUniqueId id;
  rc = check(nccl.getUniqueId(&id), "ncclGetUniqueId");
  if (rc == ANVIL_OK) std::memcpy(id128, id.internal, sizeof(id.internal));
  return rc;
}

ANVIL_API int anvil_cuda_nccl_init(const char* id128, int64_t world, int64_t rank, int64_t* out) {
  if (id128 == nullptr || out == nullptr || world < 1 || rank < 0 || rank >= world) {
    return anvil_set_error(ANVIL_E_INVALID, "anvil_cuda_nccl_init: invalid arguments");
  }
  int rc = ensureLoaded();
  if (rc != ANVIL_OK) return rc;
  NcclUniqueId id;
  std::memcpy(id.internal, id128, sizeof(id.internal));
  NcclComm c = nullptr;
  rc = check(nccl.commInitRank(&c, static_cast<int>(world), id, static_cast<int>(rank)), "ncclCommInitRank");
  if (rc == ANVIL_OK) *out = static_cast<int64_t>(reinterpret_cast<intptr_t>(c));
  return rc;
}

ANVIL_API int anvil_cuda_nccl_destroy(int64_t c) {
  if (c == 0) return ANVIL_OK;
  int rc = ensureLoaded();
  if (rc != ANVIL_OK) return rc;
  return check(nccl.commDestroy(comm(c)), "ncclCommDestroy");
}

ANVIL_API int anvil_cuda_nccl_allreduce(int64_t c, int64_t data, int64_t count, int64_t dtype, int64_t stream) {
  int type = dtype == ANVIL_F32 ? kNcclFloat32 : dtype == ANVIL_BF16 ? kNcclBfloat16 : dtype == ANVIL_DIST_F64 ? kNcclFloat64 : -1;
  if (c == 0 || data == 0 || count < 0 || type < 0) {
    return anvil_set_error(ANVIL_E_INVALID, "anvil_cuda_nccl_allreduce: invalid arguments");
  }
  int rc = ensureLoaded();
  if (rc != ANVIL_OK) return rc;
  void* p = reinterpret_cast<void*>(static_cast<intptr_t>(data));
  return check(nccl.allReduce(p, p, static_cast<size_t>(count), type, kNcclSum, comm(c),
                              reinterpret_cast<NcclStream>(static_cast<intptr_t>(stream))), "ncclAllReduce");
}

ANVIL_API int anvil_cuda_nccl_broadcast(int64_t c, int64_t data, int64_t bytes, int64_t root, int64_t stream) {
  if (c == 0 || data == 0 || bytes < 0 || root < 0) {
    return anvil_set_error(ANVIL_E_INVALID, "anvil_cuda_nccl_broadcast: invalid arguments");
  }
  int rc = ensureLoaded();
  if (rc != ANVIL_OK) return rc;
  void* p = reinterpret_cast<void*>(static_cast<intptr_t>(data));
  return check(nccl.broadcast(p, p, static_cast<size_t>(bytes), kNcclInt8, static_cast<int>(root), comm(c),
                              reinterpret_cast<NcclStream>(static_cast<intptr_t>(stream))), "ncclBroadcast");
}

}  // extern "C"
