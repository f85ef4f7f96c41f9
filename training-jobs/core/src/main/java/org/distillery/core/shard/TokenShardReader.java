package org.distillery.core.shard;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.distillery.core.DistilleryException;
import org.distillery.core.io.Sha256;

/**
 * Reads a token shard through a memory map, after checking its header: magic, version, token
 * width, and that the length matches the token count. Any mismatch is a {@link ShardFormatException}
 * naming the file. Reading never loads the whole shard onto the heap.
 */
public final class TokenShardReader implements AutoCloseable {
    private final Path file;
    private final FileChannel channel;
    private final MappedByteBuffer map;
    private final int width;
    private final long tokens;
    private final long documents;

    private TokenShardReader(Path file) throws IOException {
        this.file = file;
        this.channel = FileChannel.open(file, StandardOpenOption.READ);
        try {
            long size = channel.size();
            ByteBuffer h = ShardFile.readHeader(channel, file, TokenShard.HEADER_BYTES, TokenShard.MAGIC,
                    TokenShard.VERSION, "token shard");
            width = h.getInt();
            if (width != 2 && width != 4) {
                throw new ShardFormatException(file, "has token width " + width + ", expected 2 or 4 bytes");
            }
            tokens = h.getLong();
            documents = h.getLong();
            // Compared by division: tokens × width can wrap a long around to the file's length.
            if (tokens < 0 || tokens > (size - TokenShard.HEADER_BYTES) / width
                    || size != TokenShard.HEADER_BYTES + tokens * width) {
                throw new ShardFormatException(file, "is " + size + " bytes, but its header says " + tokens
                        + " tokens of " + width + " bytes after its " + TokenShard.HEADER_BYTES
                        + "-byte header: truncated or corrupt");
            }
            if (documents < 0) {
                throw new ShardFormatException(file, "has document count " + documents + " in its header; expected 0 or"
                        + " more");
            }
            if (size - TokenShard.HEADER_BYTES > Integer.MAX_VALUE) {
                throw new ShardFormatException(file, "holds more than 2 GiB of tokens; write smaller shards");
            }
            map = channel.map(FileChannel.MapMode.READ_ONLY, TokenShard.HEADER_BYTES, size - TokenShard.HEADER_BYTES);
            map.order(ByteOrder.LITTLE_ENDIAN);
        } catch (IOException | RuntimeException e) {
            channel.close();
            throw e;
        }
    }

    /** Opens and checks the header. */
    public static TokenShardReader open(Path file) throws IOException {
        try {
            return new TokenShardReader(file);
        } catch (NoSuchFileException e) {
            throw new ShardFormatException(file, "does not exist");
        }
    }

    /** Opens, checks the header, and checks the whole file against the SHA-256 the manifest recorded. */
    public static TokenShardReader open(Path file, String expectedSha256) throws IOException {
        TokenShardReader r = open(file);
        String actual = Sha256.of(file);
        if (!actual.equals(expectedSha256)) {
            r.close();
            throw new ShardFormatException(file, "has SHA-256 " + actual + " but the manifest records "
                    + expectedSha256 + ": the shard changed or is corrupt");
        }
        return r;
    }

    public long tokens() {
        return tokens;
    }

    public long documents() {
        return documents;
    }

    public int width() {
        return width;
    }

    public Path file() {
        return file;
    }

    /** The token at index {@code i} (0 ≤ i < tokens()). */
    public int get(long i) {
        if (i < 0 || i >= tokens) {
            throw new IndexOutOfBoundsException("token " + i + " of " + tokens + " in " + file);
        }
        int at = (int) (i * width);
        return width == 2 ? Short.toUnsignedInt(map.getShort(at)) : map.getInt(at);
    }

    /** Copies {@code dst.length} tokens starting at {@code from} into {@code dst}. */
    public void read(long from, int[] dst) {
        if (from < 0 || from + dst.length > tokens) {
            throw new IndexOutOfBoundsException("tokens [" + from + ", " + (from + dst.length) + ") of " + tokens
                    + " in " + file);
        }
        int at = (int) (from * width);
        for (int i = 0; i < dst.length; i++, at += width) {
            dst[i] = width == 2 ? Short.toUnsignedInt(map.getShort(at)) : map.getInt(at);
        }
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }
}
