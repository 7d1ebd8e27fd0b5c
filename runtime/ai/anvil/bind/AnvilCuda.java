package ai.anvil.bind;

import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.annotation.Cast;
import org.bytedeco.javacpp.annotation.Platform;

/**
 * JNI binding of the CUDA half of {@code anvil.h} (libanvil_cuda, which links cudart statically and
 * needs libanvil_cpu for its error slot). Loading it may fail on a machine without a CUDA build: only
 * {@code backend.cuda.CudaRuntime} touches this class, once, inside a probe that catches that.
 */
@Platform(include = "anvil/anvil.h", link = {"anvil_cpu", "anvil_cuda"})
public final class AnvilCuda {
  static {
    Loader.load();
  }

  private AnvilCuda() {}

  public static native int anvil_cuda_device_count(@Cast("int64_t*") long[] count);

  public static native int anvil_cuda_device_info(
      long device,
      @Cast("char*") BytePointer name,
      long nameLen,
      @Cast("int64_t*") long[] capability,
      @Cast("int64_t*") long[] totalBytes);

  public static native int anvil_cuda_set_device(long device);

  public static native int anvil_cuda_stream_create(@Cast("int64_t*") long[] stream);

  public static native int anvil_cuda_stream_destroy(long stream);

  public static native int anvil_cuda_stream_synchronize(long stream);

  public static native int anvil_cuda_malloc(long bytes, long stream, @Cast("int64_t*") long[] address);

  public static native int anvil_cuda_free(long address, long stream);

  public static native int anvil_cuda_memcpy(long dst, long src, long bytes, long kind, long stream);

  public static native int anvil_cuda_fill(long dst, long n, long dtype, double value, long stream);

  public static native int anvil_cuda_memory(
      @Cast("int64_t*") long[] reserved, @Cast("int64_t*") long[] used);

  public static native int anvil_cuda_eltwise_fwd(
      @Cast("const anvil_eltwise_params*") long p, long dtype, long stream);

  public static native int anvil_cuda_eltwise_bwd(
      @Cast("const anvil_eltwise_params*") long p, long dtype, long stream);

  public static native int anvil_cuda_use_device(long device);

  public static native int anvil_cuda_event_create(@Cast("int64_t*") long[] event);

  public static native int anvil_cuda_event_destroy(long event);

  public static native int anvil_cuda_event_record(long event, long stream);

  public static native int anvil_cuda_event_elapsed(long start, long end, double[] milliseconds);

  // ---- ops: params struct address, dtype code of the activations, stream ---------------------------

  public static native int anvil_cuda_matmul_fwd(@Cast("const anvil_matmul_params*") long p, long dtype, long stream);

  public static native int anvil_cuda_matmul_bwd(@Cast("const anvil_matmul_params*") long p, long dtype, long stream);

  public static native int anvil_cuda_matmul_limit_kernel(long kernel);

  public static native int anvil_cuda_matmul_fwd_kernel(@Cast("const anvil_matmul_params*") long p, long dtype,
                                                        @Cast("int64_t*") long[] kernel);

  public static native int anvil_cuda_gelu_fwd(@Cast("const anvil_gelu_params*") long p, long dtype, long stream);

  public static native int anvil_cuda_gelu_bwd(@Cast("const anvil_gelu_params*") long p, long dtype, long stream);

  public static native int anvil_cuda_layernorm_fwd(
      @Cast("const anvil_layernorm_params*") long p, long dtype, long stream);

  public static native int anvil_cuda_layernorm_bwd(
      @Cast("const anvil_layernorm_params*") long p, long dtype, long stream);

  public static native int anvil_cuda_softmax_fwd(@Cast("const anvil_softmax_params*") long p, long dtype, long stream);

  public static native int anvil_cuda_softmax_bwd(@Cast("const anvil_softmax_params*") long p, long dtype, long stream);

  public static native int anvil_cuda_attention_fwd(
      @Cast("const anvil_attention_params*") long p, long dtype, long stream);

  public static native int anvil_cuda_attention_bwd(
      @Cast("const anvil_attention_params*") long p, long dtype, long stream);

  public static native int anvil_cuda_attention_limit_kernel(long kernel);

  public static native int anvil_cuda_embedding_fwd(
      @Cast("const anvil_embedding_params*") long p, long dtype, long stream);

  public static native int anvil_cuda_embedding_bwd(
      @Cast("const anvil_embedding_params*") long p, long dtype, long stream);

  public static native int anvil_cuda_cross_entropy_fwd(
      @Cast("const anvil_cross_entropy_params*") long p, long dtype, long stream);

  public static native int anvil_cuda_cross_entropy_bwd(
      @Cast("const anvil_cross_entropy_params*") long p, long dtype, long stream);

  public static native int anvil_cuda_adamw_fwd(@Cast("const anvil_adamw_params*") long p, long stream);

  public static native int anvil_cuda_grad_norm_fwd(@Cast("const anvil_grad_norm_params*") long p, long stream);

  // ---- Llama-family ops -------------------------------------------------------------------------

  public static native int anvil_cuda_rmsnorm_fwd(@Cast("const anvil_rmsnorm_params*") long p, long dtype, long stream);

  public static native int anvil_cuda_rmsnorm_bwd(@Cast("const anvil_rmsnorm_params*") long p, long dtype, long stream);

  public static native int anvil_cuda_rope_fwd(@Cast("const anvil_rope_params*") long p, long dtype, long stream);

  public static native int anvil_cuda_rope_bwd(@Cast("const anvil_rope_params*") long p, long dtype, long stream);

  public static native int anvil_cuda_swiglu_fwd(@Cast("const anvil_swiglu_params*") long p, long dtype, long stream);

  public static native int anvil_cuda_swiglu_bwd(@Cast("const anvil_swiglu_params*") long p, long dtype, long stream);

  public static native int anvil_cuda_repeat_kv_fwd(
      @Cast("const anvil_repeat_kv_params*") long p, long dtype, long stream);

  public static native int anvil_cuda_repeat_kv_bwd(
      @Cast("const anvil_repeat_kv_params*") long p, long dtype, long stream);

  // ---- the GPU training step (issue 7): fused AdamW over a device table, CUDA graphs, sampling --------

  public static native int anvil_cuda_adamw_table(
      @Cast("const anvil_adamw_tensor*") long host, long count, long table, @Cast("int64_t*") long[] blocks);

  public static native int anvil_cuda_adamw_schedule(long state, double lr, long step, long stream);

  public static native int anvil_cuda_adamw_multi_fwd(@Cast("const anvil_adamw_multi_params*") long p, long stream);

  public static native int anvil_cuda_graph_begin(long stream);

  public static native int anvil_cuda_graph_end(long stream, @Cast("int64_t*") long[] graph);

  public static native int anvil_cuda_graph_launch(long graph, long stream);

  public static native int anvil_cuda_graph_destroy(long graph);

  public static native int anvil_cuda_sample_fwd(@Cast("const anvil_sample_params*") long p, long dtype, long stream);

  public static native int anvil_cuda_attention_decode_fwd(
      @Cast("const anvil_attention_params*") long p, long lens, long lensAdd, long dtype, long stream);

  public static native int anvil_cuda_kv_append(@Cast("const anvil_kv_append_params*") long p, long dtype, long stream);

  public static native int anvil_cuda_kv_advance(long lens, long batch, long n, long stream);

  public static native int anvil_cuda_cross_entropy_bwd_dgrad(
      @Cast("const anvil_cross_entropy_params*") long p, long dgrad, long dtype, long stream);

  // ---- bf16 mixed precision ----------------------------------------------------------------------

  public static native int anvil_cuda_cast_fwd(@Cast("const anvil_cast_params*") long p, long stream);

  public static native int anvil_cuda_cast_bwd(@Cast("const anvil_cast_params*") long p, long stream);
}
