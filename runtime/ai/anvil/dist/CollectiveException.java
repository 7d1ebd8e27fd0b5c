package ai.anvil.dist;

/**
 * A collective or the rendezvous failed: a rank died (its connections closed), did not answer within the
 * timeout, or never joined. The job cannot continue; a launcher (Spark, torchrun, Kubernetes) restarts
 * it as a whole from the last checkpoint.
 */
public final class CollectiveException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  public CollectiveException(String message) {
    super(message);
  }

  public CollectiveException(String message, Throwable cause) {
    super(message, cause);
  }
}
