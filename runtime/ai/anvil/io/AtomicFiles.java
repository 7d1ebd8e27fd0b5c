package ai.anvil.io;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Crash-safe file replacement: the new content goes to a temporary file beside the target, is forced to
 * disk, and is then renamed over the target; the folder is forced too, so the rename itself survives a
 * power cut. A reader sees either the whole old file or the whole new one, never a torn write; a failure
 * while writing leaves the old file untouched and removes the temporary.
 */
public final class AtomicFiles {
  private AtomicFiles() {}

  /** Writes the body of a file through a channel. */
  @FunctionalInterface
  public interface Body {
    void write(FileChannel out) throws IOException;
  }

  /** Replaces target with what body writes, atomically. */
  public static void write(Path target, Body body) throws IOException {
    Path dir = target.toAbsolutePath().getParent();
    Files.createDirectories(dir);
    Path tmp = dir.resolve("." + target.getFileName() + ".tmp-" + Long.toHexString(ThreadLocalRandom.current().nextLong()));
    boolean done = false;
    try {
      try (FileChannel out = FileChannel.open(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
        body.write(out);
        out.force(true);
      }
      move(tmp, target);
      forceDirectory(dir);
      done = true;
    } finally {
      if (!done) Files.deleteIfExists(tmp);
    }
  }

  /** Replaces target with text (UTF-8), atomically. */
  public static void writeString(Path target, String text) throws IOException {
    byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
    write(target, out -> writeFully(out, ByteBuffer.wrap(bytes)));
  }

  /** Replaces target with a copy of source, atomically. */
  public static void copy(Path source, Path target) throws IOException {
    write(target, out -> {
      try (FileChannel in = FileChannel.open(source, StandardOpenOption.READ)) {
        long size = in.size(), at = 0;
        while (at < size) at += in.transferTo(at, size - at, out);
      }
    });
  }

  /** Writes all remaining bytes of buffer. */
  public static void writeFully(FileChannel out, ByteBuffer buffer) throws IOException {
    while (buffer.hasRemaining()) out.write(buffer);
  }

  /** Renames source to target, atomically where the file system can (replacing target). */
  public static void move(Path source, Path target) throws IOException {
    try {
      Files.move(source, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } catch (AtomicMoveNotSupportedException e) {
      Files.move(source, target, StandardCopyOption.REPLACE_EXISTING);
    }
  }

  /** Forces a folder's entries (renames, creations) to disk; a no-op where the OS cannot open folders. */
  public static void forceDirectory(Path dir) {
    try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
      ch.force(true);
    } catch (IOException | UnsupportedOperationException e) {
      // Windows cannot open a folder as a channel; its renames are durable without this.
    }
  }
}
