package ai.anvil.data.fetch;

import java.nio.file.Path;

/**
 * Receives the progress of {@link Fetcher#fetch}. The CLI prints it; a service may log it. Every method
 * defaults to doing nothing. {@link #progress} may be called from a watcher thread while a package client
 * runs; the others come from the thread that called {@code fetch}.
 */
public interface FetchListener {

    /** A listener that ignores everything. */
    FetchListener NONE = new FetchListener() {};

    /** Step {@code step} (1-based) of {@code steps} of fetching {@code name} began, e.g. "download sword-text-web". */
    default void step(String name, int step, int steps, String what) {}

    /**
     * The running download of {@code name} holds {@code done} bytes of about {@code total} ({@code -1} when
     * unknown). Sent about twice a second while a package client runs, and once when it ends.
     */
    default void progress(String name, long done, long total) {}

    /** One line that a package client or corpus tool (apt-get, dpkg-deb, npm, bible, diatheke) printed. */
    default void output(String name, String line) {}

    /** {@code name} is ready at {@code path}; {@code fromCache} when it was already there and nothing ran. */
    default void done(String name, Path path, boolean fromCache) {}
}
