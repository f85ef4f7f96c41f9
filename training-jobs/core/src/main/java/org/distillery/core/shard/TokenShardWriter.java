package org.distillery.core.shard;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.distillery.core.io.AtomicFile;

/**
 * Streams documents' tokens into one shard ({@link TokenShard}). The tokens go to a temporary file
 * beside the target; {@link #finish()} writes the header, forces the file to disk and renames it to
 * its final name, so a killed writer never leaves a shard that looks complete. Not thread-safe.
 */
public final class TokenShardWriter implements AutoCloseable {
    private final Path target;
    private final Path tmp;
    private final FileChannel channel;
    private final int width;
    private final int maxId;
    private final ByteBuffer buf = ByteBuffer.allocateDirect(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
    private long tokens;
    private long documents;
    private boolean finished;

    /** What a finished shard holds, as the manifest records it. */
    public record Summary(String file, String sha256, long tokens, long documents, long bytes)
            implements java.io.Serializable {
    }

    public TokenShardWriter(Path target, int width) throws IOException {
        if (width != 2 && width != 4) {
            throw new IllegalArgumentException("token width must be 2 or 4 bytes, not " + width);
        }
        this.target = target;
        this.width = width;
        this.maxId = width == 2 ? 0xFFFF : Integer.MAX_VALUE;
        this.tmp = ShardFile.temporaryFor(target);
        this.channel = FileChannel.open(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE,
                StandardOpenOption.READ);
        channel.position(TokenShard.HEADER_BYTES);
    }

    /** Appends one document's tokens (already ended by the end-of-text token, if the caller wants one). */
    public void addDocument(int[] ids, int length) throws IOException {
        for (int i = 0; i < length; i++) {
            int id = ids[i];
            if (id < 0 || id > maxId) {
                throw new IllegalArgumentException("token id " + id + " does not fit in " + width + " bytes");
            }
            if (buf.remaining() < width) {
                flush();
            }
            if (width == 2) {
                buf.putShort((short) id);
            } else {
                buf.putInt(id);
            }
        }
        tokens += length;
        documents++;
    }

    public long tokens() {
        return tokens;
    }

    private void flush() throws IOException {
        buf.flip();
        AtomicFile.writeFully(channel, buf);
        buf.clear();
    }

    /** Writes the header, syncs and renames into place; returns what the manifest records. */
    public Summary finish() throws IOException {
        flush();
        ByteBuffer header = ByteBuffer.allocate(TokenShard.HEADER_BYTES).order(ByteOrder.LITTLE_ENDIAN);
        header.put(TokenShard.MAGIC).putInt(TokenShard.VERSION).putInt(width).putLong(tokens).putLong(documents);
        header.flip();
        ShardFile.Sealed sealed = ShardFile.seal(channel, header, tmp, target);
        finished = true;
        return new Summary(target.getFileName().toString(), sealed.sha256(), tokens, documents, sealed.bytes());
    }

    /** Abandons an unfinished shard: its temporary file is removed and nothing appears under the final name. */
    @Override
    public void close() throws IOException {
        if (!finished) {
            channel.close();
            Files.deleteIfExists(tmp);
        }
    }
}
