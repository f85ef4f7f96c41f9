package org.distillery.core.io;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.UUID;

/**
 * Writes a file so that its final name only ever holds complete content: the bytes go to a
 * temporary file in the same folder, which is forced to disk and then renamed over the final name
 * (an atomic rename on one file system). A crash leaves at most a {@code .tmp-} file behind; a failed
 * write leaves nothing and throws a {@link FileAccessException} that names the file.
 */
public final class AtomicFile {
    private AtomicFile() {
    }

    /** The content of one file, written to a stream that the caller must not close. */
    @FunctionalInterface
    public interface Content {
        void writeTo(OutputStream out) throws IOException;
    }

    /** The content of one file, written to a channel (for writers that hand it direct buffers). */
    @FunctionalInterface
    public interface ChannelContent {
        void writeTo(WritableByteChannel out) throws IOException;
    }

    public static void write(Path target, byte[] bytes) throws IOException {
        write(target, out -> out.write(bytes));
    }

    public static void write(Path target, Content content) throws IOException {
        write(target, -1, content);
    }

    /** As {@link #write(Path, Content)}, refused before it starts if the file system has no room for {@code bytes}. */
    public static void write(Path target, long bytes, Content content) throws IOException {
        writeChannel(target, bytes, ch -> {
            OutputStream out = new java.io.BufferedOutputStream(Channels.newOutputStream(ch), 1 << 16);
            content.writeTo(out);
            out.flush();
        });
    }

    /** As {@link #write(Path, Content)}, the content written straight to the temporary file's channel. */
    public static void writeChannel(Path target, ChannelContent content) throws IOException {
        writeChannel(target, -1, content);
    }

    private static void writeChannel(Path target, long bytes, ChannelContent content) throws IOException {
        Path dir = target.toAbsolutePath().getParent();
        Path tmp = temporaryFor(dir, target);
        try {
            Files.createDirectories(dir);
            if (bytes >= 0) {
                FileAccessException.requireSpace(target, bytes);
            }
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                content.writeTo(ch);
                ch.force(true);
            }
            moveIntoPlace(tmp, target);
            syncDirectory(dir);
        } catch (IOException e) {
            throw FileAccessException.of(target, e);
        } finally {
            try {
                Files.deleteIfExists(tmp);
            } catch (IOException e) {
                // the folder itself is unwritable or gone: there is no temporary file to leave behind
            }
        }
    }

    /** The temporary file a write of {@code target} goes through: hidden, beside it, never a final name. */
    public static Path temporaryFor(Path dir, Path target) {
        return dir.resolve("." + target.getFileName() + ".tmp-" + UUID.randomUUID());
    }

    /** Whether {@code file} is the temporary file of a write of {@code target}. */
    static boolean isTemporaryOf(Path file, Path target) {
        return file.getFileName() != null && target.getFileName() != null
                && file.getFileName().toString().startsWith("." + target.getFileName() + ".tmp-");
    }

    /** Whether {@code file} is a temporary file of a write (see {@link #temporaryFor}). */
    public static boolean isTemporary(Path file) {
        String name = file.getFileName().toString();
        return name.startsWith(".") && name.contains(".tmp-");
    }

    /**
     * Deletes the temporary files that writes killed mid-way left in {@code dir} (a process killed with
     * SIGKILL runs no finally). Call it only where no write into {@code dir} is under way.
     */
    public static void removeLeftovers(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            return;
        }
        try (java.util.stream.Stream<Path> s = Files.list(dir)) {
            for (Path p : s.filter(AtomicFile::isTemporary).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }

    /** Renames {@code from} to {@code to} atomically, replacing a file (not a folder) already there. */
    public static void moveIntoPlace(Path from, Path to) throws IOException {
        try {
            Files.move(from, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            throw new IOException("cannot rename " + from + " to " + to + " atomically: they must be on one file system", e);
        }
    }

    /** Forces a folder's entries (new names, renames) to disk; a no-op where the platform cannot. */
    public static void syncDirectory(Path dir) {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        } catch (IOException | UnsupportedOperationException ignored) {
            // Some platforms cannot open a folder for fsync; the rename is still atomic there.
        }
    }

    /** Writes a small buffer fully (FileChannel.write may write less than asked). */
    public static void writeFully(FileChannel ch, ByteBuffer buf) throws IOException {
        while (buf.hasRemaining()) {
            ch.write(buf);
        }
    }
}
