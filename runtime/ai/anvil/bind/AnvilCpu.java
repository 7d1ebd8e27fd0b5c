package ai.anvil.bind;

import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.annotation.Cast;
import org.bytedeco.javacpp.annotation.Platform;

/**
 * JNI binding of the CPU half of {@code native/include/anvil/anvil.h}. One Java method per C function,
 * same name. Params structs travel as the address of a {@link Params} block ({@code long p}).
 *
 * <p>Nothing here validates anything: callers are the backend classes, which check every argument
 * first. Do not call these from anywhere else.
 */
@Platform(include = {"anvil/anvil.h", "anvil/anvil_cpu_cache.h"}, link = "anvil_cpu", preload = "gomp@.1")
public final class AnvilCpu {
  static {
    Loader.load();
  }

  private AnvilCpu() {}

  public static native @Cast("const char*") BytePointer anvil_last_error();

  public static native long anvil_abi_version();

  public static native long anvil_cpu_features();

  public static native @Cast("const char*") BytePointer anvil_cpu_gemm_kernel();

  public static native int anvil_cpu_set_threads(long threads);

  public static native long anvil_cpu_get_threads();

  public static native long anvil_cpu_alloc(long bytes);

  public static native void anvil_cpu_free(long address);

  public static native long anvil_cpu_cached_bytes();

  public static native int anvil_cpu_set_cache_limit(long bytes);

  public static native long anvil_cpu_get_cache_limit();

  public static native void anvil_cpu_release_cache();

  public static native int anvil_cpu_copy(long dst, long src, long bytes);

  public static native int anvil_cpu_fill_f32(long dst, long n, double value);

  public static native int anvil_cpu_matmul_fwd(@Cast("const anvil_matmul_params*") long p);

  public static native int anvil_cpu_matmul_bwd(@Cast("const anvil_matmul_params*") long p);

  public static native int anvil_cpu_eltwise_fwd(@Cast("const anvil_eltwise_params*") long p);

  public static native int anvil_cpu_eltwise_bwd(@Cast("const anvil_eltwise_params*") long p);

  public static native int anvil_cpu_gelu_fwd(@Cast("const anvil_gelu_params*") long p);

  public static native int anvil_cpu_gelu_bwd(@Cast("const anvil_gelu_params*") long p);

  public static native int anvil_cpu_layernorm_fwd(@Cast("const anvil_layernorm_params*") long p);

  public static native int anvil_cpu_layernorm_bwd(@Cast("const anvil_layernorm_params*") long p);

  public static native int anvil_cpu_softmax_fwd(@Cast("const anvil_softmax_params*") long p);

  public static native int anvil_cpu_softmax_bwd(@Cast("const anvil_softmax_params*") long p);

  public static native int anvil_cpu_attention_fwd(@Cast("const anvil_attention_params*") long p);

  public static native int anvil_cpu_attention_bwd(@Cast("const anvil_attention_params*") long p);

  public static native int anvil_cpu_embedding_fwd(@Cast("const anvil_embedding_params*") long p);

  public static native int anvil_cpu_embedding_bwd(@Cast("const anvil_embedding_params*") long p);

  public static native int anvil_cpu_cross_entropy_fwd(
      @Cast("const anvil_cross_entropy_params*") long p);

  public static native int anvil_cpu_cross_entropy_bwd(
      @Cast("const anvil_cross_entropy_params*") long p);

  public static native int anvil_cpu_adamw_fwd(@Cast("const anvil_adamw_params*") long p);

  public static native int anvil_cpu_grad_norm_fwd(@Cast("const anvil_grad_norm_params*") long p);

  // ---- Llama-family ops -------------------------------------------------------------------------

  public static native int anvil_cpu_rmsnorm_fwd(@Cast("const anvil_rmsnorm_params*") long p);

  public static native int anvil_cpu_rmsnorm_bwd(@Cast("const anvil_rmsnorm_params*") long p);

  public static native int anvil_cpu_rope_fwd(@Cast("const anvil_rope_params*") long p);

  public static native int anvil_cpu_rope_bwd(@Cast("const anvil_rope_params*") long p);

  public static native int anvil_cpu_swiglu_fwd(@Cast("const anvil_swiglu_params*") long p);

  public static native int anvil_cpu_swiglu_bwd(@Cast("const anvil_swiglu_params*") long p);

  public static native int anvil_cpu_repeat_kv_fwd(@Cast("const anvil_repeat_kv_params*") long p);

  public static native int anvil_cpu_repeat_kv_bwd(@Cast("const anvil_repeat_kv_params*") long p);
}
