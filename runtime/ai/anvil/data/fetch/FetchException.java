package ai.anvil.data.fetch;

import java.io.IOException;

/**
 * A fetch failed: a package client is missing or failed, a download or a cleaned result does not have the
 * recorded checksum, or a tool printed something the cleaner does not understand. The message names the
 * command, file or line concerned.
 */
public class FetchException extends IOException {
    private static final long serialVersionUID = 1L;

    public FetchException(String message) {
        super(message);
    }

    public FetchException(String message, Throwable cause) {
        super(message, cause);
    }
}
