package ai.anvil.testkit;

import ai.anvil.backend.cpu.CpuBackend;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * {@code @ExtendWith(OneCpuThread.class)}: the test class runs its CPU kernels on one thread and gives the
 * previous count back after its last test. For classes of tiny models, where a thread team costs more
 * than it saves on shared CI machines.
 */
public final class OneCpuThread implements BeforeAllCallback, AfterAllCallback {
  private static final ExtensionContext.Namespace SAVED = ExtensionContext.Namespace.create(OneCpuThread.class);

  @Override
  public void beforeAll(ExtensionContext context) {
    context.getStore(SAVED).put("threads", CpuBackend.threads());
    CpuBackend.setThreads(1);
  }

  @Override
  public void afterAll(ExtensionContext context) {
    CpuBackend.setThreads(context.getStore(SAVED).get("threads", Integer.class));
  }
}
