package ai.anvil.cli;

import ai.anvil.dist.GlooGroup;
import ai.anvil.dist.ProcessGroup;
import ai.anvil.dist.Rendezvous;
import java.time.Duration;
import java.util.Map;
import java.util.Set;
import picocli.CommandLine.Option;

/**
 * The data-parallel flags of {@code pretrain}: {@code --distributed env} joins the job described by
 * torchrun's variables (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT), which is also what Kubernetes
 * operators set. These flags are not training settings (TrainConfig keys): the command skips them.
 */
final class DistributedOptions {
  /** The long names of these options, which are not TrainConfig keys. */
  static final Set<String> NAMES = Set.of("--distributed", "--dist-timeout");

  @Option(names = "--distributed", paramLabel = "none|env",
      description = "Data-parallel training: env joins the ranks named by RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT "
          + "(torchrun/Kubernetes); rank 0 serves the rendezvous at MASTER_ADDR:MASTER_PORT. Gloo on CPUs. (default none)")
  String mode = "none";

  @Option(names = "--dist-timeout", paramLabel = "SECONDS",
      description = "Rendezvous and collective timeout: a rank silent this long fails the job (default 300).")
  long timeoutSeconds = Rendezvous.DEFAULT_TIMEOUT.toSeconds();

  /** The group this process joins, or null for a single process. */
  ProcessGroup join(Map<String, String> env) {
    if (timeoutSeconds < 1) throw new IllegalArgumentException("--dist-timeout must be >= 1 second, got " + timeoutSeconds);
    return switch (mode) {
      case "none" -> null;
      case "env" -> GlooGroup.join(Rendezvous.fromEnv(env, Duration.ofSeconds(timeoutSeconds)));
      default -> throw new IllegalArgumentException("--distributed must be none or env, got '" + mode + "'");
    };
  }
}
