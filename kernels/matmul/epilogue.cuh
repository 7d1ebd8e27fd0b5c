// matmul/epilogue.cuh: the activation the GEMM epilogues apply (gemm_simt.cuh, gemm_sm80.cuh, gemm_sm90.cuh).
//   gelu_tanh(v) = 0.5 v (1 + tanh(u)) = v sigmoid(2u), u = sqrt(2/pi) (v + 0.044715 v^3): GPT-2's GELU,
//   the formula of gelu.cu's tanh form (the sigmoid keeps the negative tail's relative accuracy; the clamp
//   keeps exp finite, where v / inf would still give the right -0 but costs a special case on some parts).
// Its derivative, for the backward, is gelu.cu's (matmul.cu calls anvil_cuda_gelu_bwd on the stored v).
#pragma once

namespace anvil::gemm {

__device__ __forceinline__ float gelu_tanh(float x) {
  const float u = 0.7978845608028654f * (x + 0.044715f * x * x * x);
  return x / (1.0f + __expf(fminf(-2.0f * u, 80.0f)));
}

}  // namespace anvil::gemm
