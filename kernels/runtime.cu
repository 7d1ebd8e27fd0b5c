// runtime.cu: device query, streams, the stream-ordered allocator (cudaMallocAsync on the device's
// default memory pool, kept from trimming so freed blocks are reused), copies, events for timing, and
// the device error word that kernels raise when they refuse an argument (see common.cuh).
#include <atomic>
#include <mutex>

#include "common.cuh"

using namespace anvil;

namespace {

// One word of mapped, pinned host memory shared by every device (portable): kernels store a bit into
// it through its device address; the host reads it after a synchronize, at no copy cost.
struct ErrorWord {
  unsigned int* host = nullptr;
  unsigned int* device = nullptr;
  cudaError_t status = cudaSuccess;
};

ErrorWord make_error_word() {
  ErrorWord w;
  void* host = nullptr;
  w.status = cudaHostAlloc(&host, sizeof(unsigned int), cudaHostAllocMapped | cudaHostAllocPortable);
  if (w.status != cudaSuccess) return w;
  w.host = static_cast<unsigned int*>(host);
  *w.host = 0;
  void* device = nullptr;
  w.status = cudaHostGetDevicePointer(&device, host, 0);
  if (w.status == cudaSuccess) w.device = static_cast<unsigned int*>(device);
  return w;
}

ErrorWord& error_word() {
  static std::once_flag once;
  static ErrorWord word;
  std::call_once(once, [] { word = make_error_word(); });
  return word;
}

// After a synchronize: turns raised bits into ANVIL_E_INVALID (and clears them).
int check_device_errors() {
  ErrorWord& w = error_word();
  if (!w.host) return ANVIL_OK;
  unsigned int bits = __atomic_exchange_n(w.host, 0u, __ATOMIC_SEQ_CST);
  if (bits == 0) return ANVIL_OK;
  char message[256];
  snprintf(message, sizeof(message), "a CUDA kernel refused its input since the last synchronize:%s%s%s%s",
           (bits & ANVIL_DEVERR_EMBEDDING_ID) ? " embedding token id outside [0, vocab);" : "",
           (bits & ANVIL_DEVERR_TARGET) ? " cross-entropy target outside [0, vocab) and not ignore_index;" : "",
           (bits & ANVIL_DEVERR_ADAMW_SCHEDULE) ? " fused adamw stepped before its schedule was written (step < 1);" : "",
           (bits & ANVIL_DEVERR_KV_POSITION) ? " KV cache position outside [0, capacity);" : "");
  return anvil_set_error(ANVIL_E_INVALID, message);
}

}  // namespace

namespace anvil {
unsigned int* device_error_word() {
  ErrorWord& w = error_word();
  if (!w.device) {
    cuda_fail(w.status == cudaSuccess ? cudaErrorUnknown : w.status, "device error word (cudaHostAlloc mapped)",
              __FILE__, __LINE__);
    return nullptr;
  }
  return w.device;
}
}  // namespace anvil

extern "C" {

ANVIL_API int anvil_cuda_device_count(int64_t* count) {
  int n = 0;
  *count = 0;
  ANVIL_CUDA_CHECK(cudaGetDeviceCount(&n));
  *count = n;
  return ANVIL_OK;
}

ANVIL_API int anvil_cuda_device_info(int64_t device, char* name, int64_t name_len, int64_t* capability,
                                     int64_t* total_bytes) {
  cudaDeviceProp prop;
  ANVIL_CUDA_CHECK(cudaGetDeviceProperties(&prop, static_cast<int>(device)));
  if (name && name_len > 0) snprintf(name, static_cast<size_t>(name_len), "%s", prop.name);
  *capability = prop.major * 10 + prop.minor;
  *total_bytes = static_cast<int64_t>(prop.totalGlobalMem);
  return ANVIL_OK;
}

ANVIL_API int anvil_cuda_set_device(int64_t device) {
  ANVIL_CUDA_CHECK(cudaSetDevice(static_cast<int>(device)));
  cudaMemPool_t pool;
  ANVIL_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, static_cast<int>(device)));
  uint64_t keep_all = UINT64_MAX;  // never hand freed memory back to the driver between steps
  ANVIL_CUDA_CHECK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep_all));
  return ANVIL_OK;
}

ANVIL_API int anvil_cuda_use_device(int64_t device) {
  ANVIL_CUDA_CHECK(cudaSetDevice(static_cast<int>(device)));
  return ANVIL_OK;
}

ANVIL_API int anvil_cuda_stream_create(int64_t* stream) {
  cudaStream_t s;
  ANVIL_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  *stream = static_cast<int64_t>(reinterpret_cast<uintptr_t>(s));
  return ANVIL_OK;
}

ANVIL_API int anvil_cuda_stream_destroy(int64_t stream) {
  ANVIL_CUDA_CHECK(cudaStreamDestroy(as_stream(stream)));
  return ANVIL_OK;
}

ANVIL_API int anvil_cuda_stream_synchronize(int64_t stream) {
  ANVIL_CUDA_CHECK(cudaStreamSynchronize(as_stream(stream)));
  return check_device_errors();
}

ANVIL_API int anvil_cuda_malloc(int64_t bytes, int64_t stream, int64_t* address) {
  void* memory = nullptr;
  *address = 0;
  cudaError_t status = cudaMallocAsync(&memory, static_cast<size_t>(bytes > 0 ? bytes : 1), as_stream(stream));
  if (status == cudaErrorMemoryAllocation) {
    cudaGetLastError();  // not sticky; clear it so the next launch check does not report it
    char message[160];
    snprintf(message, sizeof(message), "cudaMallocAsync of %lld bytes: out of device memory", (long long)bytes);
    return anvil_set_error(ANVIL_E_NOMEM, message);
  }
  ANVIL_CUDA_CHECK(status);
  *address = static_cast<int64_t>(reinterpret_cast<uintptr_t>(memory));
  return ANVIL_OK;
}

ANVIL_API int anvil_cuda_free(int64_t address, int64_t stream) {
  ANVIL_CUDA_CHECK(cudaFreeAsync(dptr<void>(address), as_stream(stream)));
  return ANVIL_OK;
}

ANVIL_API int anvil_cuda_memcpy(int64_t dst, int64_t src, int64_t bytes, int64_t kind, int64_t stream) {
  static const cudaMemcpyKind kinds[] = {cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost,
                                         cudaMemcpyDeviceToDevice};
  if (kind < 0 || kind > 2) return anvil_set_error(ANVIL_E_INVALID, "memcpy: kind must be 0, 1 or 2");
  if (bytes == 0) return ANVIL_OK;
  cudaStream_t s = as_stream(stream);
  ANVIL_CUDA_CHECK(cudaMemcpyAsync(dptr<void>(dst), dptr<void>(src), static_cast<size_t>(bytes), kinds[kind], s));
  // Pageable host memory: wait so the host buffer may be reused or read at once.
  if (kind == 2) return ANVIL_OK;
  ANVIL_CUDA_CHECK(cudaStreamSynchronize(s));
  return kind == 1 ? check_device_errors() : ANVIL_OK;
}

ANVIL_API int anvil_cuda_memory(int64_t* reserved, int64_t* used) {
  int device = 0;
  ANVIL_CUDA_CHECK(cudaGetDevice(&device));
  cudaMemPool_t pool;
  ANVIL_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, device));
  uint64_t r = 0, u = 0;
  ANVIL_CUDA_CHECK(cudaMemPoolGetAttribute(pool, cudaMemPoolAttrReservedMemCurrent, &r));
  ANVIL_CUDA_CHECK(cudaMemPoolGetAttribute(pool, cudaMemPoolAttrUsedMemCurrent, &u));
  *reserved = static_cast<int64_t>(r);
  *used = static_cast<int64_t>(u);
  return ANVIL_OK;
}

ANVIL_API int anvil_cuda_event_create(int64_t* event) {
  cudaEvent_t e;
  ANVIL_CUDA_CHECK(cudaEventCreate(&e));
  *event = static_cast<int64_t>(reinterpret_cast<uintptr_t>(e));
  return ANVIL_OK;
}

ANVIL_API int anvil_cuda_event_destroy(int64_t event) {
  ANVIL_CUDA_CHECK(cudaEventDestroy(reinterpret_cast<cudaEvent_t>(static_cast<uintptr_t>(event))));
  return ANVIL_OK;
}

ANVIL_API int anvil_cuda_event_record(int64_t event, int64_t stream) {
  ANVIL_CUDA_CHECK(cudaEventRecord(reinterpret_cast<cudaEvent_t>(static_cast<uintptr_t>(event)), as_stream(stream)));
  return ANVIL_OK;
}

ANVIL_API int anvil_cuda_event_elapsed(int64_t start, int64_t end, double* milliseconds) {
  cudaEvent_t e = reinterpret_cast<cudaEvent_t>(static_cast<uintptr_t>(end));
  ANVIL_CUDA_CHECK(cudaEventSynchronize(e));
  float ms = 0;
  ANVIL_CUDA_CHECK(cudaEventElapsedTime(&ms, reinterpret_cast<cudaEvent_t>(static_cast<uintptr_t>(start)), e));
  *milliseconds = ms;
  return check_device_errors();
}

}  // extern "C"
