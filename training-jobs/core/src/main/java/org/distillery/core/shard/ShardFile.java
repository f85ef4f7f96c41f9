package org.distillery.core.shard;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import org.distillery.core.io.AtomicFile;
import org.distillery.core.io.Sha256;

/**
 * What the binary shard formats share: a writer's temporary file beside the final name, sealed by
 * writing the header last, syncing and renaming; and a reader's check of a fixed header's magic and
 * version, with errors that name the file.
 */
final class ShardFile {
    private ShardFile() {
    }

    /** A sealed shard's SHA-256 and length. */
    record Sealed(String sha256, long bytes) {
    }

    /** A new temporary file beside {@code target} (its folder created), for a writer to fill. */
    static Path temporaryFor(Path target) throws IOException {
        Path dir = target.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        return AtomicFile.temporaryFor(dir, target);
    }

    /** Writes {@code header} at the start of the temporary file, syncs, closes, and renames it to {@code target}. */
    static Sealed seal(FileChannel channel, ByteBuffer header, Path tmp, Path target) throws IOException {
        channel.position(0);
        AtomicFile.writeFully(channel, header);
        channel.force(true);
        long bytes = channel.size();
        channel.close();
        String sha = Sha256.of(tmp);
        AtomicFile.moveIntoPlace(tmp, target);
        AtomicFile.syncDirectory(target.toAbsolutePath().getParent());
        return new Sealed(sha, bytes);
    }

    /**
     * Reads a {@code headerBytes} header and checks its magic and version (the u32 after the magic);
     * returns it positioned after the version. {@code kind} names the format in the magic's error.
     */
    static ByteBuffer readHeader(FileChannel channel, Path file, int headerBytes, byte[] magic, int version, String kind)
            throws IOException {
        long size = channel.size();
        if (size < headerBytes) {
            throw new ShardFormatException(file, "is " + size + " bytes, shorter than the " + headerBytes
                    + "-byte header");
        }
        ByteBuffer h = ByteBuffer.allocate(headerBytes).order(ByteOrder.LITTLE_ENDIAN);
        while (h.hasRemaining() && channel.read(h, h.position()) > 0) {
            // read until the header is full
        }
        h.flip();
        byte[] found = new byte[magic.length];
        h.get(found);
        if (!Arrays.equals(found, magic)) {
            throw new ShardFormatException(file, "has magic " + printable(found) + ", expected " + printable(magic)
                    + ": not a Distillery " + kind);
        }
        int v = h.getInt();
        if (v != version) {
            throw new ShardFormatException(file, "has format version " + v + ", this Distillery reads version "
                    + version);
        }
        return h;
    }

    static String printable(byte[] b) {
        StringBuilder s = new StringBuilder("\"");
        for (byte x : b) {
            s.append(x >= 32 && x < 127 ? String.valueOf((char) x) : String.format("\\x%02x", x & 0xFF));
        }
        return s.append('"').toString();
    }
}
