// runtime.cu: device query, streams, the stream-ordered allocator (cudaMallocAsync on the device's
// default memory pool, kept from trimming so freed blocks are reused) and copies.
#include "common.cuh"

using namespace anvil;

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
  return ANVIL_OK;
}

ANVIL_API int anvil_cuda_malloc(int64_t bytes, int64_t stream, int64_t* address) {
  void* memory = nullptr;
  ANVIL_CUDA_CHECK(cudaMallocAsync(&memory, static_cast<size_t>(bytes > 0 ? bytes : 1), as_stream(stream)));
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
  if (kind != 2) ANVIL_CUDA_CHECK(cudaStreamSynchronize(s));
  return ANVIL_OK;
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

}  // extern "C"
