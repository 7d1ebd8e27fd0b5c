package ai.anvil.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The Cleaner-based detector reports a tensor collected without close(), and not a closed one. */
class LeakDetectorTest {

  @Test
  void reportsAnUnclosedTensorAndNotAClosedOne() throws InterruptedException {
    boolean was = LeakDetector.isEnabled();
    LeakDetector.setEnabled(true);
    try {
      long before = LeakDetector.reported();
      makeAndClose();
      collect(() -> false);
      assertEquals(before, LeakDetector.reported(), "a closed tensor is not a leak");
      makeAndDrop();
      assertTrue(collect(() -> LeakDetector.reported() > before), "the dropped tensor must be reported");
    } finally {
      LeakDetector.setEnabled(was);
    }
  }

  private static void makeAndClose() {
    Tensor.zeros(DType.F32, Device.CPU, 4).close();
  }

  private static void makeAndDrop() {
    Tensor.zeros(DType.F32, Device.CPU, 4);
  }

  private static boolean collect(java.util.function.BooleanSupplier done) throws InterruptedException {
    for (int i = 0; i < 50; i++) {
      System.gc();
      Thread.sleep(20);
      if (done.getAsBoolean()) return true;
    }
    return done.getAsBoolean();
  }
}
