/*
 * anvil.h: the one C ABI between Anvil's Java runtime and its native kernels.
 *
 * Rules of this boundary (see DESIGN.md, "The native boundary"):
 *  - Plain C. No C++ types cross it.
 *  - Every op takes one POD params struct. Every field is 8 bytes (int64_t or double): pointers travel
 *    as integers, flags as 0/1. Java writes the struct as an array of 64-bit slots in field order, so the
 *    field order below IS the wire format. ANVIL_PARAMS_CHECK pins each struct's slot count; the Java
 *    side (ai.anvil.bind.Params) asserts the same counts.
 *  - Functions are anvil_<device>_<op>_{fwd,bwd}(const anvil_<op>_params*[, int64_t stream]) and return
 *    0 on success or an ANVIL_E_* code; anvil_last_error() then holds a message for this thread.
 *  - Java validates shapes, dtypes, devices and liveness before calling. Native code still refuses what
 *    it cannot check cheaply in Java (token ids out of range) with an error code, never a crash.
 *  - Gradients of parameters accumulate (+=); gradients of activations are written (=), unless a
 *    params struct says otherwise through an explicit accumulate flag.
 *  - CPU tensors are fp32 (ids int32). CUDA adds bf16 (dtype codes below).
 */
#ifndef ANVIL_ANVIL_H
#define ANVIL_ANVIL_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define ANVIL_API __declspec(dllexport)
#else
#define ANVIL_API __attribute__((visibility("default")))
#endif

/* Error codes. */
#define ANVIL_OK 0
#define ANVIL_E_INVALID 1     /* an argument the kernel refuses (e.g. a token id out of range) */
#define ANVIL_E_NOMEM 2       /* allocation failed */
#define ANVIL_E_UNSUPPORTED 3 /* this build or device cannot do it (no AVX2 path, no CUDA...) */
#define ANVIL_E_CUDA 4        /* a CUDA runtime error; the message names it */
#define ANVIL_E_INTERNAL 5

/* Data type codes, shared by both devices. */
#define ANVIL_F32 0
#define ANVIL_BF16 1
#define ANVIL_I32 2

/* The message of the last error on this thread ("" when none). Lives in the CPU library. */
ANVIL_API const char* anvil_last_error(void);
/* Sets this thread's error message; used by both libraries. Returns code. */
ANVIL_API int anvil_set_error(int code, const char* message);
/* Bumped whenever a struct below changes. */
ANVIL_API int64_t anvil_abi_version(void);
#define ANVIL_ABI_VERSION 1

/* ---------------------------------------------------------------------------------------------------
 * CPU runtime
 * ------------------------------------------------------------------------------------------------- */

/* CPU feature bits, as detected at run time. */
#define ANVIL_CPU_AVX2 1
#define ANVIL_CPU_FMA 2
#define ANVIL_CPU_AVX512F 4
#define ANVIL_CPU_AVX512BF16 8

ANVIL_API int64_t anvil_cpu_features(void);
/* Name of the GEMM micro-kernel chosen at run time ("avx512", "avx2", "generic"). */
ANVIL_API const char* anvil_cpu_gemm_kernel(void);
ANVIL_API int anvil_cpu_set_threads(int64_t threads);
ANVIL_API int64_t anvil_cpu_get_threads(void);

/* 64-byte aligned host memory; returns 0 when out of memory (and sets the error). */
ANVIL_API int64_t anvil_cpu_alloc(int64_t bytes);
ANVIL_API void anvil_cpu_free(int64_t address);
ANVIL_API int anvil_cpu_copy(int64_t dst, int64_t src, int64_t bytes);
/* dst[0..n) = value, fp32. */
ANVIL_API int anvil_cpu_fill_f32(int64_t dst, int64_t n, double value);

/* ---------------------------------------------------------------------------------------------------
 * matmul: C[b] (m,n) = alpha * op(A[b]) (m,k) @ op(B[b]) (k,n) + bias (n) [+ C[b] if accumulate]
 *   op(A) = A (m,k) row-major, or A^T when trans_a (A stored (k,m)).
 *   op(B) = B (k,n) row-major, or B^T when trans_b (B stored (n,k)); a Linear is trans_b=1 with the
 *   PyTorch (out,in) weight.
 *   stride_* are element strides between batch items (0 broadcasts one matrix to every batch item).
 * bwd: given dC, da (=, or += when accumulate_da) = alpha * dC op(B)^T in A's storage layout;
 *      db (+=, or = when !accumulate_db) = alpha * op(A)^T dC in B's layout; dbias (+=) = column sums
 *      of dC (bias is not scaled by alpha in fwd either).
 *      Any of da/db/dbias may be 0 (not wanted). Strides of da/db/dc equal those of a/b/c.
 * GELU epilogue (gelu = 1: the tanh approximation GPT-2 uses, gelu(v) = 0.5 v (1 + tanh(sqrt(2/pi)
 *   (v + 0.044715 v^3)))); gelu = 0: none):
 *   fwd: v = alpha * op(A) op(B) + bias; C = gelu(v); pre (when not 0) = v, in C's dtype and layout
 *        (strides of c). accumulate must be 0 with gelu (ANVIL_E_INVALID): "C += gelu(v)" would be a
 *        residual add after the activation, which no caller needs, and "C = gelu(v + C)" would need the
 *        old C in the backward.
 *   bwd: reads pre (required, as the fwd stored it) and dC: dpre = dC * gelu'(pre), then da, db, dbias
 *        exactly as above with dpre in place of dC (c and bias are not read).
 * ------------------------------------------------------------------------------------------------- */
typedef struct {
  int64_t a, b, c, bias;
  int64_t dc, da, db, dbias;
  int64_t batch, m, n, k;
  int64_t trans_a, trans_b;
  int64_t stride_a, stride_b, stride_c;
  int64_t accumulate, accumulate_da, accumulate_db;
  double alpha;
  int64_t gelu; /* 0 none, 1 tanh-approximate GELU epilogue */
  int64_t pre;  /* fwd: where to store v (0: don't); bwd with gelu: v as stored, required */
} anvil_matmul_params;
#define ANVIL_MATMUL_SLOTS 23
ANVIL_API int anvil_cpu_matmul_fwd(const anvil_matmul_params* p);
ANVIL_API int anvil_cpu_matmul_bwd(const anvil_matmul_params* p);

/* ---------------------------------------------------------------------------------------------------
 * eltwise: the small binary/unary family, n elements each, all contiguous.
 *   op ADD:   out = a + b            bwd: da = dout, db = dout
 *   op MUL:   out = a * b            bwd: da = dout * b, db = dout * a
 *   op SCALE: out = alpha * a        bwd: da = alpha * dout
 *   op AXPY:  out += alpha * a       (in place, no bwd; used for gradient sums and clipping)
 * bwd writes da/db (=), or adds (+=) when accumulate. da or db may be 0.
 * b_bf16 (CUDA, ADD fwd only): 1 when b is bf16 while a, out and the call's dtype are fp32, so out =
 *   a + float(b) in one pass (a bf16 branch added into an fp32 residual stream: no fp32 copy of the
 *   branch); 0: b has the call's dtype. The CPU backend is fp32 only and refuses 1.
 * ------------------------------------------------------------------------------------------------- */
#define ANVIL_ADD 0
#define ANVIL_MUL 1
#define ANVIL_SCALE 2
#define ANVIL_AXPY 3
typedef struct {
  int64_t op;
  int64_t a, b, out;
  int64_t dout, da, db;
  int64_t n;
  int64_t accumulate;
  double alpha;
  int64_t b_bf16;
} anvil_eltwise_params;
#define ANVIL_ELTWISE_SLOTS 11
ANVIL_API int anvil_cpu_eltwise_fwd(const anvil_eltwise_params* p);
ANVIL_API int anvil_cpu_eltwise_bwd(const anvil_eltwise_params* p);

/* ---------------------------------------------------------------------------------------------------
 * gelu: y = gelu(x), n elements. approximate=1: tanh form (GPT-2); 0: exact erf form (BERT).
 * bwd: dx = dy * gelu'(x) (=, or += when accumulate).
 * ------------------------------------------------------------------------------------------------- */
typedef struct {
  int64_t x, y, dy, dx;
  int64_t n;
  int64_t approximate;
  int64_t accumulate;
} anvil_gelu_params;
#define ANVIL_GELU_SLOTS 7
ANVIL_API int anvil_cpu_gelu_fwd(const anvil_gelu_params* p);
ANVIL_API int anvil_cpu_gelu_bwd(const anvil_gelu_params* p);

/* ---------------------------------------------------------------------------------------------------
 * layernorm over the last dim: x (rows, cols) -> y (rows, cols); mean, rstd (rows) saved for bwd.
 *   weight, bias (cols); bias may be 0. mean/rstd may be 0 in fwd when no bwd will follow.
 * bwd: dx (=, or += when accumulate_dx); dweight (+=, or = when overwrite_params); dbias
 *   (likewise, may be 0). Needs x, weight, mean, rstd, dy.
 * y_bf16 (CUDA): 1 when y (fwd) and dy (bwd) are bf16 while x, weight, bias, dx and the call's dtype are
 *   fp32: a LayerNorm whose output feeds a bf16 linear writes it in bf16 (the same fp32 value rounded
 *   once, as a cast after it would) and takes its gradient in bf16. The CPU backend is fp32 only and
 *   refuses 1.
 * ------------------------------------------------------------------------------------------------- */
typedef struct {
  int64_t x, weight, bias, y, mean, rstd;
  int64_t dy, dx, dweight, dbias;
  int64_t rows, cols;
  double eps;
  int64_t y_bf16;
  int64_t accumulate_dx;
  int64_t overwrite_params;
} anvil_layernorm_params;
#define ANVIL_LAYERNORM_SLOTS 16
ANVIL_API int anvil_cpu_layernorm_fwd(const anvil_layernorm_params* p);
ANVIL_API int anvil_cpu_layernorm_bwd(const anvil_layernorm_params* p);

/* ---------------------------------------------------------------------------------------------------
 * softmax over the last dim: y (rows, cols) = softmax(scale * x).
 * bwd: dx (=) = scale * y * (dy - sum(dy * y)).
 * ------------------------------------------------------------------------------------------------- */
typedef struct {
  int64_t x, y, dy, dx;
  int64_t rows, cols;
  double scale;
} anvil_softmax_params;
#define ANVIL_SOFTMAX_SLOTS 7
ANVIL_API int anvil_cpu_softmax_fwd(const anvil_softmax_params* p);
ANVIL_API int anvil_cpu_softmax_bwd(const anvil_softmax_params* p);

/* ---------------------------------------------------------------------------------------------------
 * attention: multi-head scaled dot-product attention, fused (no B*H*Tq*Tk buffer).
 *   Token rows: element (b, t, h, d) of q lives at q + b*q_batch_stride + t*q_row_stride + h*head_dim + d,
 *   and likewise for k, v, out (o_* strides). So q, k, v may be column blocks of one packed qkv row
 *   (B, T, 3C) or separate (B, T, C) tensors. dq/dk/dv share q/k/v's strides; dout shares out's.
 *   lse (batch, heads, q_len) fp32 contiguous: log-sum-exp of the scaled, masked scores, kept for bwd;
 *   lse may be 0 in fwd when no bwd will follow (inference).
 *   key_mask: int32 (batch, k_len), nonzero = may be attended; 0 = none masked.
 *   causal: query i sees keys j <= i + (k_len - q_len) (bottom-right alignment, DESIGN.md).
 *   A query that sees no key outputs zeros (lse = -inf) and gets zero gradients.
 * bwd: dq, dk, dv written (=). Needs q, k, v, out, lse, dout.
 * ------------------------------------------------------------------------------------------------- */
typedef struct {
  int64_t q, k, v, out, lse, key_mask;
  int64_t dout, dq, dk, dv;
  int64_t batch, heads, q_len, k_len, head_dim;
  int64_t q_row_stride, k_row_stride, v_row_stride, o_row_stride;
  int64_t q_batch_stride, k_batch_stride, v_batch_stride, o_batch_stride;
  int64_t causal;
  double scale;
} anvil_attention_params;
#define ANVIL_ATTENTION_SLOTS 25
ANVIL_API int anvil_cpu_attention_fwd(const anvil_attention_params* p);
ANVIL_API int anvil_cpu_attention_bwd(const anvil_attention_params* p);

/* ---------------------------------------------------------------------------------------------------
 * embedding: out (n, dim) = table[ids[i]] for ids (n) int32, table (vocab, dim).
 * bwd: dtable[ids[i]] += dout[i] (scatter-add). An id outside [0, vocab) is ANVIL_E_INVALID.
 * ------------------------------------------------------------------------------------------------- */
typedef struct {
  int64_t ids, table, out;
  int64_t dout, dtable;
  int64_t n, vocab, dim;
} anvil_embedding_params;
#define ANVIL_EMBEDDING_SLOTS 8
ANVIL_API int anvil_cpu_embedding_fwd(const anvil_embedding_params* p);
ANVIL_API int anvil_cpu_embedding_bwd(const anvil_embedding_params* p);

/* ---------------------------------------------------------------------------------------------------
 * cross_entropy: fused log-softmax + negative log-likelihood over logits (rows, row_stride) whose first
 *   `vocab` columns are real (the rest is padding, ignored). targets (rows) int32.
 *   fwd: losses (rows) = -log softmax(logits)[target], 0 where target == ignore_index;
 *        loss (1 float) = sum(losses) / normalizer. losses may be 0.
 *   bwd: dlogits (=) = (softmax - onehot(target)) * grad / normalizer, 0 on ignored rows and padding.
 *   normalizer is explicit (the non-ignored token count of the whole accumulation window, DESIGN.md).
 *   A target outside [0, vocab) that is not ignore_index is ANVIL_E_INVALID.
 * ------------------------------------------------------------------------------------------------- */
typedef struct {
  int64_t logits, targets, losses, loss;
  int64_t dlogits;
  int64_t rows, vocab, row_stride;
  int64_t ignore_index;
  double normalizer, grad;
} anvil_cross_entropy_params;
#define ANVIL_CROSS_ENTROPY_SLOTS 11
ANVIL_API int anvil_cpu_cross_entropy_fwd(const anvil_cross_entropy_params* p);
ANVIL_API int anvil_cpu_cross_entropy_bwd(const anvil_cross_entropy_params* p);

/* ---------------------------------------------------------------------------------------------------
 * adamw: one call for a list of `count` tensors. params/grads/m/v/sizes/decay point to int64 arrays of
 *   length count (tensor addresses, element counts, and 0/1 whether weight decay applies).
 *   g = grad * grad_scale (the clipping scale); m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 *   p -= lr * (wd * p [if decay]) ; p -= lr * (m / (1-b1^step)) / (sqrt(v / (1-b2^step)) + eps).
 *   In place. Frozen tensors are simply not in the list.
 * ------------------------------------------------------------------------------------------------- */
typedef struct {
  int64_t params, grads, m, v, sizes, decay;
  int64_t count, step;
  double lr, beta1, beta2, eps, weight_decay, grad_scale;
} anvil_adamw_params;
#define ANVIL_ADAMW_SLOTS 14
ANVIL_API int anvil_cpu_adamw_fwd(const anvil_adamw_params* p);

/* ---------------------------------------------------------------------------------------------------
 * grad_norm: out (1 double, on the host) = sqrt(sum over tensors of sum(x^2)), fp64 accumulation.
 *   tensors/sizes point to int64 arrays of length count.
 * ------------------------------------------------------------------------------------------------- */
typedef struct {
  int64_t tensors, sizes, count;
  int64_t out;
} anvil_grad_norm_params;
#define ANVIL_GRAD_NORM_SLOTS 4
ANVIL_API int anvil_cpu_grad_norm_fwd(const anvil_grad_norm_params* p);

/* ---------------------------------------------------------------------------------------------------
 * CUDA runtime (libanvil_cuda; optional). Streams and addresses travel as int64. Every launch checks
 * cudaGetLastError; async errors surface at the next synchronizing call.
 * ------------------------------------------------------------------------------------------------- */
/* Number of usable devices into *count; a failure (no driver, no device) returns ANVIL_E_CUDA with the
   exact reason in anvil_last_error(). Never crashes on a machine without a driver. */
ANVIL_API int anvil_cuda_device_count(int64_t* count);
/* Name, compute capability (major*10+minor), total memory in bytes. name must hold name_len bytes. */
ANVIL_API int anvil_cuda_device_info(int64_t device, char* name, int64_t name_len, int64_t* capability,
                                     int64_t* total_bytes);
ANVIL_API int anvil_cuda_set_device(int64_t device);
ANVIL_API int anvil_cuda_stream_create(int64_t* stream);
ANVIL_API int anvil_cuda_stream_destroy(int64_t stream);
ANVIL_API int anvil_cuda_stream_synchronize(int64_t stream);
/* Stream-ordered allocation from the device's memory pool (cudaMallocAsync). */
ANVIL_API int anvil_cuda_malloc(int64_t bytes, int64_t stream, int64_t* address);
ANVIL_API int anvil_cuda_free(int64_t address, int64_t stream);
/* kind: 0 host->device, 1 device->host, 2 device->device. Host memory is pageable; the call is
   ordered on the stream and d2h synchronizes before returning. */
ANVIL_API int anvil_cuda_memcpy(int64_t dst, int64_t src, int64_t bytes, int64_t kind, int64_t stream);
ANVIL_API int anvil_cuda_fill(int64_t dst, int64_t n, int64_t dtype, double value, int64_t stream);
/* Pool statistics: bytes reserved by the pool and bytes in use. */
ANVIL_API int anvil_cuda_memory(int64_t* reserved, int64_t* used);
ANVIL_API int anvil_cuda_eltwise_fwd(const anvil_eltwise_params* p, int64_t dtype, int64_t stream);
ANVIL_API int anvil_cuda_eltwise_bwd(const anvil_eltwise_params* p, int64_t dtype, int64_t stream);
/* Binds the calling thread to a device (cudaSetDevice only; anvil_cuda_set_device also sets up the pool). */
ANVIL_API int anvil_cuda_use_device(int64_t device);
/* CUDA events for timing: record on a stream; elapsed waits for `end` and gives the milliseconds. */
ANVIL_API int anvil_cuda_event_create(int64_t* event);
ANVIL_API int anvil_cuda_event_destroy(int64_t event);
ANVIL_API int anvil_cuda_event_record(int64_t event, int64_t stream);
ANVIL_API int anvil_cuda_event_elapsed(int64_t start, int64_t end, double* milliseconds);

/* The ops on CUDA: the params structs and contracts of the CPU functions above, queued on `stream`.
 * dtype (ANVIL_F32 or ANVIL_BF16) is the type of the activation tensors; what stays fp32 always:
 *   matmul: db, dbias (a, b, bias, c, dc, da are dtype)     layernorm: mean, rstd, dweight, dbias
 *   attention: lse                                          embedding: dtable (ids int32)
 *   cross_entropy: losses, loss (targets int32)             adamw, grad_norm: everything (no dtype)
 * Math is fp32 (fp64 for grad_norm) whatever the storage. An input a kernel refuses (an id or target out
 * of range) cannot fail the launch: the kernel skips it and the next synchronizing call
 * (anvil_cuda_stream_synchronize, a device-to-host anvil_cuda_memcpy) returns ANVIL_E_INVALID.
 * adamw reads its tensor lists on the host during the call; grad_norm writes *out on the host and
 * synchronizes the stream. */
ANVIL_API int anvil_cuda_matmul_fwd(const anvil_matmul_params* p, int64_t dtype, int64_t stream);
ANVIL_API int anvil_cuda_matmul_bwd(const anvil_matmul_params* p, int64_t dtype, int64_t stream);
/* The CUDA GEMM kernels (kernels/matmul.cu: which one a product takes depends only on its arguments and
 * the device): SIMT (fp32 mode, unaligned views), mma.sync (bf16, sm_80 and later), wgmma (bf16, sm_90a).
 * limit_kernel caps the kernel every later matmul of this process may take (default ANVIL_GEMM_WGMMA_SM90:
 * no cap): for tests and diagnosis, e.g. ANVIL_GEMM_MMA_SM80 runs Hopper on the sm_80 path.
 * fwd_kernel writes the kernel anvil_cuda_matmul_fwd would take for p now (0: p is empty). */
#define ANVIL_GEMM_SIMT 1
#define ANVIL_GEMM_MMA_SM80 2
#define ANVIL_GEMM_WGMMA_SM90 3
ANVIL_API int anvil_cuda_matmul_limit_kernel(int64_t kernel);
ANVIL_API int anvil_cuda_matmul_fwd_kernel(const anvil_matmul_params* p, int64_t dtype, int64_t* kernel);
ANVIL_API int anvil_cuda_gelu_fwd(const anvil_gelu_params* p, int64_t dtype, int64_t stream);
ANVIL_API int anvil_cuda_gelu_bwd(const anvil_gelu_params* p, int64_t dtype, int64_t stream);
ANVIL_API int anvil_cuda_layernorm_fwd(const anvil_layernorm_params* p, int64_t dtype, int64_t stream);
ANVIL_API int anvil_cuda_layernorm_bwd(const anvil_layernorm_params* p, int64_t dtype, int64_t stream);
ANVIL_API int anvil_cuda_softmax_fwd(const anvil_softmax_params* p, int64_t dtype, int64_t stream);
ANVIL_API int anvil_cuda_softmax_bwd(const anvil_softmax_params* p, int64_t dtype, int64_t stream);
ANVIL_API int anvil_cuda_attention_fwd(const anvil_attention_params* p, int64_t dtype, int64_t stream);
ANVIL_API int anvil_cuda_attention_bwd(const anvil_attention_params* p, int64_t dtype, int64_t stream);
/* The CUDA attention kernels (kernels/attention.cu): SIMT (fp32 mode, other head dims, unaligned views),
 * mma.sync FlashAttention-2 (bf16, sm_80 and later), wgmma FA3-style (bf16, compute capability 9.0).
 * limit_kernel caps the kernels every later attention call of this process may take (default
 * ANVIL_ATTENTION_WGMMA_SM90: no cap): for tests and diagnosis, e.g. ANVIL_ATTENTION_MMA_SM80 runs Hopper
 * on the sm_80 kernels. */
#define ANVIL_ATTENTION_SIMT 1
#define ANVIL_ATTENTION_MMA_SM80 2
#define ANVIL_ATTENTION_WGMMA_SM90 3
ANVIL_API int anvil_cuda_attention_limit_kernel(int64_t kernel);
ANVIL_API int anvil_cuda_embedding_fwd(const anvil_embedding_params* p, int64_t dtype, int64_t stream);
ANVIL_API int anvil_cuda_embedding_bwd(const anvil_embedding_params* p, int64_t dtype, int64_t stream);
ANVIL_API int anvil_cuda_cross_entropy_fwd(const anvil_cross_entropy_params* p, int64_t dtype, int64_t stream);
ANVIL_API int anvil_cuda_cross_entropy_bwd(const anvil_cross_entropy_params* p, int64_t dtype, int64_t stream);
ANVIL_API int anvil_cuda_adamw_fwd(const anvil_adamw_params* p, int64_t stream);
ANVIL_API int anvil_cuda_grad_norm_fwd(const anvil_grad_norm_params* p, int64_t stream);

/* ===================================================================================================
 * Llama-family ops: RMSNorm, rotary embeddings, the SiLU-gated MLP product, and grouped-query attention
 * by repeating k/v heads (the attention struct above has no kv_heads field and stays unchanged: GQA is
 * repeat_kv followed by ordinary multi-head attention). New structs only; the rules at the top hold.
 * ================================================================================================= */

/* ---------------------------------------------------------------------------------------------------
 * rmsnorm over the last dim: x (rows, cols) -> y (rows, cols) = x * rstd * weight, weight (cols),
 *   rstd (rows) = 1 / sqrt(mean(x^2) + eps), written when not 0 (kept for bwd; 0 at inference).
 * bwd: dx (=) = rstd * (dy w - xhat * mean_cols(dy w xhat)), xhat = x * rstd;
 *      dweight (+=) = sum over rows of dy * xhat. Needs x, weight, rstd, dy and eps (the CPU recomputes
 *      rstd from x in fp64). dx or dweight may be 0 (not wanted).
 * ------------------------------------------------------------------------------------------------- */
typedef struct {
  int64_t x, weight, y, rstd;
  int64_t dy, dx, dweight;
  int64_t rows, cols;
  double eps;
} anvil_rmsnorm_params;
#define ANVIL_RMSNORM_SLOTS 10
ANVIL_API int anvil_cpu_rmsnorm_fwd(const anvil_rmsnorm_params* p);
ANVIL_API int anvil_cpu_rmsnorm_bwd(const anvil_rmsnorm_params* p);

/* ---------------------------------------------------------------------------------------------------
 * rope: rotary position embedding of token rows x (batch, seq, heads * head_dim), contiguous, in the
 *   Hugging Face rotate_half convention: with half = head_dim / 2 and, for j < half,
 *   angle = (pos_offset + t) * theta^(-2j / head_dim), c = cos(angle), s = sin(angle):
 *     out[j] = x[j] c - x[j + half] s,   out[j + half] = x[j + half] c + x[j] s   (per head).
 *   head_dim is even. out may be x itself (in place); otherwise it must not overlap x.
 *   pos_offset is the position of token 0 (the cache length when decoding).
 * bwd: the inverse rotation (angle -> -angle): x = dy (the output gradient), out = dx (=).
 * ------------------------------------------------------------------------------------------------- */
typedef struct {
  int64_t x, out;
  int64_t batch, seq, heads, head_dim;
  int64_t pos_offset;
  double theta;
} anvil_rope_params;
#define ANVIL_ROPE_SLOTS 8
ANVIL_API int anvil_cpu_rope_fwd(const anvil_rope_params* p);
ANVIL_API int anvil_cpu_rope_bwd(const anvil_rope_params* p);

/* ---------------------------------------------------------------------------------------------------
 * swiglu: the SiLU-gated product of Llama's MLP, n elements each, contiguous:
 *   out = silu(a) * b,  silu(a) = a * sigmoid(a)     (a = gate_proj(x), b = up_proj(x))
 * bwd: da = dout * b * sigmoid(a) (1 + a (1 - sigmoid(a))),  db = dout * silu(a);
 *      written (=), or added (+=) when accumulate. da or db may be 0.
 * ------------------------------------------------------------------------------------------------- */
typedef struct {
  int64_t a, b, out;
  int64_t dout, da, db;
  int64_t n;
  int64_t accumulate;
} anvil_swiglu_params;
#define ANVIL_SWIGLU_SLOTS 8
ANVIL_API int anvil_cpu_swiglu_fwd(const anvil_swiglu_params* p);
ANVIL_API int anvil_cpu_swiglu_bwd(const anvil_swiglu_params* p);

/* ---------------------------------------------------------------------------------------------------
 * repeat_kv: grouped-query attention's head sharing, as Hugging Face's repeat_kv:
 *   x (rows, kv_heads * head_dim) -> out (rows, kv_heads * groups * head_dim),
 *   out head h = x head h / groups (each kv head serves `groups` consecutive query heads).
 * bwd: dx (rows, kv_heads * head_dim) = sum over its group of dout's heads; written (=), or added
 *      (+=) when accumulate.
 * ------------------------------------------------------------------------------------------------- */
typedef struct {
  int64_t x, out, dout, dx;
  int64_t rows, kv_heads, groups, head_dim;
  int64_t accumulate;
} anvil_repeat_kv_params;
#define ANVIL_REPEAT_KV_SLOTS 9
ANVIL_API int anvil_cpu_repeat_kv_fwd(const anvil_repeat_kv_params* p);
ANVIL_API int anvil_cpu_repeat_kv_bwd(const anvil_repeat_kv_params* p);

/* The Llama ops on CUDA: same structs and contracts, queued on `stream`; dtype (ANVIL_F32 or
 * ANVIL_BF16) is that of the activations. Always fp32: rmsnorm's rstd and dweight (weight is dtype).
 * Math is fp32. */
ANVIL_API int anvil_cuda_rmsnorm_fwd(const anvil_rmsnorm_params* p, int64_t dtype, int64_t stream);
ANVIL_API int anvil_cuda_rmsnorm_bwd(const anvil_rmsnorm_params* p, int64_t dtype, int64_t stream);
ANVIL_API int anvil_cuda_rope_fwd(const anvil_rope_params* p, int64_t dtype, int64_t stream);
ANVIL_API int anvil_cuda_rope_bwd(const anvil_rope_params* p, int64_t dtype, int64_t stream);
ANVIL_API int anvil_cuda_swiglu_fwd(const anvil_swiglu_params* p, int64_t dtype, int64_t stream);
ANVIL_API int anvil_cuda_swiglu_bwd(const anvil_swiglu_params* p, int64_t dtype, int64_t stream);
ANVIL_API int anvil_cuda_repeat_kv_fwd(const anvil_repeat_kv_params* p, int64_t dtype, int64_t stream);
ANVIL_API int anvil_cuda_repeat_kv_bwd(const anvil_repeat_kv_params* p, int64_t dtype, int64_t stream);

/* ===================================================================================================
 * The GPU training step (CUDA only; issue 7).
 *
 * Fused AdamW over a device-resident tensor table. The table is built once (anvil_cuda_adamw_table) and
 * stays valid while its tensors live, so a step reads nothing from the host and may be captured in a CUDA
 * graph. One entry per tensor: fp32 param, grad, m, v of n elements; copy: a bf16 copy of the updated param
 * written in the same pass (0: none); flags: ANVIL_ADAMW_DECAY (decoupled weight decay applies),
 * ANVIL_ADAMW_FROZEN (skipped: no blocks, nothing read or written); first_block: filled in by
 * anvil_cuda_adamw_table (chunks of ANVIL_ADAMW_CHUNK elements).
 * state: ANVIL_ADAMW_STATE_BYTES of device memory holding doubles: lr at byte 0 and the 1-based step at 8
 * (written by anvil_cuda_adamw_schedule, between graph launches), then, written by every step, the global
 * L2 norm of grad_scale * grads at 16 (-1 when clip == 0: not computed) and the clip scale applied at 24.
 * The rest is internal. The norm stays on the device unless the caller copies those 8 bytes.
 * anvil_cuda_adamw_multi_fwd: g = grad * grad_scale * clip_scale, where clip_scale = clip / (norm + 1e-6)
 *   when clip > 0 and norm > clip, else 1 (torch.nn.utils.clip_grad_norm_); then the update of
 *   anvil_adamw_params with lr and step read from state. workspace: `blocks` doubles (the norm's
 *   partial sums, added in a fixed order: deterministic), needed only when clip > 0.
 * ------------------------------------------------------------------------------------------------- */
typedef struct {
  int64_t param, grad, m, v, copy, n, flags, first_block;
} anvil_adamw_tensor;
#define ANVIL_ADAMW_TENSOR_SLOTS 8
#define ANVIL_ADAMW_DECAY 1
#define ANVIL_ADAMW_FROZEN 2
#define ANVIL_ADAMW_CHUNK 4096
#define ANVIL_ADAMW_STATE_BYTES 128
typedef struct {
  int64_t table, count, blocks, state, workspace;
  double beta1, beta2, eps, weight_decay, clip, grad_scale;
} anvil_adamw_multi_params;
#define ANVIL_ADAMW_MULTI_SLOTS 11
/* Copies count host entries to device memory at table (count * 64 bytes), first_block filled in; *blocks:
 * the launch's block count (0 when nothing is trainable). Synchronous: call it at setup, not in a capture. */
ANVIL_API int anvil_cuda_adamw_table(const anvil_adamw_tensor* host, int64_t count, int64_t table, int64_t* blocks);
/* Writes lr and step into state on the stream (a one-thread kernel: no synchronization). */
ANVIL_API int anvil_cuda_adamw_schedule(int64_t state, double lr, int64_t step, int64_t stream);
ANVIL_API int anvil_cuda_adamw_multi_fwd(const anvil_adamw_multi_params* p, int64_t stream);

/* CUDA graphs: the launches queued on a stream between begin and end are captured (thread-local mode:
 * other threads' CUDA calls are unaffected), instantiated, and replayed by launch. Stream-ordered
 * allocations made during the capture become memory nodes of the graph, reserved once and reused by every
 * replay, so a replay allocates nothing. The caller keeps three rules: no synchronizing call during the
 * capture (a device-to-host copy, a stream synchronize: the capture then fails and end reports it); memory
 * allocated before the capture is not freed during it; memory allocated during it is freed during it.
 * Kernel arguments are frozen at capture: what changes between replays lives in device memory.
 * end: *graph is the handle for launch and destroy (0 when the capture failed; the stream is usable again). */
ANVIL_API int anvil_cuda_graph_begin(int64_t stream);
ANVIL_API int anvil_cuda_graph_end(int64_t stream, int64_t* graph);
ANVIL_API int anvil_cuda_graph_launch(int64_t graph, int64_t stream);
ANVIL_API int anvil_cuda_graph_destroy(int64_t graph);

/* sample (CUDA): one token id per row, on the device. logits (rows, ld) fp32 or bf16, the first vocab
 * columns scored; out: rows int32 on the device.
 *   top_k == 1 or temperature == 0: argmax (the lowest index among equal maxima);
 *   else softmax(logits / temperature) over the top_k largest (top_k == 0: the whole vocabulary;
 *   1 < top_k <= ANVIL_SAMPLE_MAX_TOP_K), sampled by inverse CDF in index order (top-k: in descending order
 *   of logit) with the uniform of row r drawn from a counter-based hash of (seed, offset + r). */
typedef struct {
  int64_t logits, out, rows, vocab, ld, top_k;
  double temperature;
  int64_t seed, offset;
} anvil_sample_params;
#define ANVIL_SAMPLE_SLOTS 9
#define ANVIL_SAMPLE_MAX_TOP_K 256
ANVIL_API int anvil_cuda_sample_fwd(const anvil_sample_params* p, int64_t dtype, int64_t stream);

/* Decoding with the cache lengths in device memory (CUDA; issue 7): the position of each batch row lives in
 * an int32 (batch) array `lens` on the device, read by the kernels, so one captured graph serves every
 * decode step. The cache of one layer is k_cache, v_cache (batch, capacity, width), contiguous.
 * attention_decode_fwd: anvil_cuda_attention_fwd with q_len == 1 and k, v the whole cache (k_len = its
 *   capacity, strides as the forward's), where batch row b sees keys [0, min(k_len, lens[b] + lens_add))
 *   only (key_mask, when given, on top; lens_add in [-1, 1]). A row that sees no key: out 0, lse -inf.
 * kv_append: for b < batch, t < rows: k_cache[b, lens[b] + t, :] = k_new[b, t, :], v likewise (written).
 *   Element (b, t, c) of k_new (and v_new) is at b*new_batch_stride + t*new_row_stride + c, so k_new and
 *   v_new may be column blocks of a packed qkv. A position outside [0, capacity) is skipped and reported
 *   by the next synchronizing call (ANVIL_E_INVALID). lens is not changed.
 * kv_advance: lens[b] += n for b < batch (after every layer has appended). */
typedef struct {
  int64_t k_new, v_new, k_cache, v_cache, lens;
  int64_t batch, rows, width, capacity, new_row_stride, new_batch_stride;
} anvil_kv_append_params;
#define ANVIL_KV_APPEND_SLOTS 11
ANVIL_API int anvil_cuda_attention_decode_fwd(const anvil_attention_params* p, int64_t lens, int64_t lens_add,
                                              int64_t dtype, int64_t stream);
ANVIL_API int anvil_cuda_kv_append(const anvil_kv_append_params* p, int64_t dtype, int64_t stream);
ANVIL_API int anvil_cuda_kv_advance(int64_t lens, int64_t batch, int64_t n, int64_t stream);

/* cross_entropy bwd with the upstream gradient read from device memory (CUDA): grad = p->grad * (*dgrad),
 * dgrad one fp32 (the gradient of the loss, as the tape holds it), so a backward pass makes no host read
 * and can be captured in a graph. With *dgrad == g and p->grad == 1 it writes exactly what
 * anvil_cuda_cross_entropy_bwd writes with grad == g. */
ANVIL_API int anvil_cuda_cross_entropy_bwd_dgrad(const anvil_cross_entropy_params* p, int64_t dgrad, int64_t dtype,
                                                 int64_t stream);

/* cast (CUDA; bf16 mixed precision, issue 7): dtype conversion over n contiguous elements, fp32 math,
 * bf16 rounded to nearest even. from, to: ANVIL_F32 or ANVIL_BF16 (equal: a copy).
 *   fwd: y (n, to) = convert(x (n, from))       bwd: dx (n, from) = convert(dy (n, to))
 *   written (=), or added (+=) when accumulate. The CPU backend is fp32 only and has no cast kernel. */
typedef struct {
  int64_t x, y, dy, dx;
  int64_t n, from, to;
  int64_t accumulate;
} anvil_cast_params;
#define ANVIL_CAST_SLOTS 8
ANVIL_API int anvil_cuda_cast_fwd(const anvil_cast_params* p, int64_t stream);
ANVIL_API int anvil_cuda_cast_bwd(const anvil_cast_params* p, int64_t stream);

#ifdef __cplusplus
}
#endif

#endif /* ANVIL_ANVIL_H */
