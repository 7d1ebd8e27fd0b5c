// graph.cu: CUDA graphs of the launches queued on a stream (anvil.h, "CUDA graphs"). A fixed-shape
// training or decode step is captured once and replayed: one launch instead of hundreds, no per-kernel
// CPU overhead. Capture is thread-local (cudaStreamCaptureModeThreadLocal), so other threads' CUDA calls
// neither break it nor are broken by it.
// Memory: the backend allocates with cudaMallocAsync, which during a capture adds memory nodes to the
// graph: the graph reserves that memory at instantiation and every replay reuses it, so replays allocate
// nothing and the pool is not touched (the caching allocator is graph-safe by construction, provided the
// rules of anvil.h hold: everything allocated in the capture is freed in it; nothing older is freed in
// it). A capture that broke (a synchronizing call, an illegal free) is reported by end with CUDA's reason.
#include "common.cuh"

using namespace anvil;

namespace {

struct Graph {
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
};

}  // namespace

extern "C" {

ANVIL_API int anvil_cuda_graph_begin(int64_t stream) {
  if (stream == 0) return anvil_set_error(ANVIL_E_INVALID, "cuda graph: the legacy default stream cannot be captured");
  ANVIL_CUDA_CHECK(cudaStreamBeginCapture(as_stream(stream), cudaStreamCaptureModeThreadLocal));
  return ANVIL_OK;
}

ANVIL_API int anvil_cuda_graph_end(int64_t stream, int64_t* handle) {
  *handle = 0;
  cudaGraph_t graph = nullptr;
  cudaError_t status = cudaStreamEndCapture(as_stream(stream), &graph);
  if (status != cudaSuccess) {
    cudaGetLastError();  // an invalidated capture is not sticky: the stream is usable again
    if (graph) cudaGraphDestroy(graph);
    return cuda_fail(status, "cudaStreamEndCapture (a synchronizing call or an illegal free during the capture?)",
                     __FILE__, __LINE__);
  }
  cudaGraphExec_t exec = nullptr;
  status = cudaGraphInstantiate(&exec, graph, 0);
  if (status != cudaSuccess) {
    cudaGraphDestroy(graph);
    return cuda_fail(status, "cudaGraphInstantiate", __FILE__, __LINE__);
  }
  Graph* g = new Graph{graph, exec};
  *handle = static_cast<int64_t>(reinterpret_cast<uintptr_t>(g));
  return ANVIL_OK;
}

ANVIL_API int anvil_cuda_graph_launch(int64_t handle, int64_t stream) {
  if (handle == 0) return anvil_set_error(ANVIL_E_INVALID, "cuda graph: null handle");
  Graph* g = reinterpret_cast<Graph*>(static_cast<uintptr_t>(handle));
  ANVIL_CUDA_CHECK(cudaGraphLaunch(g->exec, as_stream(stream)));
  return ANVIL_OK;
}

ANVIL_API int anvil_cuda_graph_destroy(int64_t handle) {
  if (handle == 0) return ANVIL_OK;
  Graph* g = reinterpret_cast<Graph*>(static_cast<uintptr_t>(handle));
  cudaError_t a = cudaGraphExecDestroy(g->exec);
  cudaError_t b = cudaGraphDestroy(g->graph);
  delete g;
  ANVIL_CUDA_CHECK(a);
  ANVIL_CUDA_CHECK(b);
  return ANVIL_OK;
}

}  // extern "C"
