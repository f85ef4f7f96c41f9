package org.distillery.core.shard;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.distillery.core.io.AtomicFile;
import org.distillery.core.io.Float16;

/**
 * A teacher-logit shard: a teacher's top-k next-token logits at every position of fixed windows of a
 * token split, as the distill job reads them in place of a live teacher. Little-endian:
 *
 * <pre>
 *   header (64 bytes): magic "DSTLTLG1", version u32, window T u32, k u32, vocab u32, id bytes u32 (2 or 4),
 *                      temperature f32, windows u64, zero padding
 *   per window:        T + 1 tokens (i32), then per position: k ids, k logits (fp16), rest log-sum-exp (f32)
 * </pre>
 *
 * Logits are stored minus the position's largest (the first is 0), and the rest is log Σ exp((logit − largest)/τ)
 * over the tokens outside the top k, at the temperature τ of the header, so the teacher's whole
 * distribution is kept: its top k tokens and the mass of all others. Windows follow each
 * other in the split's shards, sharing their edge token, so every training position is covered once.
 */
public final class TeacherLogits {
    public static final byte[] MAGIC = "DSTLTLG1".getBytes(StandardCharsets.US_ASCII);
    public static final int VERSION = 1;
    public static final int HEADER_BYTES = 64;
    /**
     * The largest window record a reader accepts: a 2048-token window of a 50k vocabulary's full distribution
     * takes 0.6 GB. It bounds the buffer and the {@link Window} arrays a header asks for, even with no windows.
     */
    static final long MAX_RECORD_BYTES = 1L << 30;

    private TeacherLogits() {
    }

    /** A finished shard, as the manifest records it. */
    public record Shard(String file, String sha256, long windows, long bytes) implements java.io.Serializable {
    }

    /** A shard's header. */
    public record Header(int window, int k, int vocab, int idBytes, float temperature, long windows) {
        /** Bytes of one window's record. */
        public long recordBytes() {
            return 4L * ((long) window + 1) + (long) window * ((long) k * idBytes + 2L * k + 4);
        }
    }

    /** One window: its T + 1 tokens and, per position, the teacher's top k and the rest (arrays reused). */
    public static final class Window {
        public final int[] tokens;
        public final int[] ids;
        public final float[] logits;
        public final float[] rest;

        public Window(int window, int k) {
            tokens = new int[window + 1];
            ids = new int[window * k];
            logits = new float[window * k];
            rest = new float[window];
        }
    }

    /** Writes one shard through a temporary file; {@link #finish()} syncs and renames it into place. */
    public static final class Writer implements AutoCloseable {
        private final Path target;
        private final Path tmp;
        private final FileChannel channel;
        private final Header shape;
        private final ByteBuffer record;
        private long windows;
        private boolean finished;

        public Writer(Path target, int window, int k, int vocab, float temperature) throws IOException {
            this.target = target;
            this.shape = new Header(window, k, vocab, vocab <= 0x10000 ? 2 : 4, temperature, 0);
            this.tmp = ShardFile.temporaryFor(target);
            this.channel = FileChannel.open(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
            this.record = ByteBuffer.allocate((int) shape.recordBytes()).order(ByteOrder.LITTLE_ENDIAN);
            channel.position(HEADER_BYTES);
        }

        public void add(Window w) throws IOException {
            record.clear();
            for (int t : w.tokens) {
                record.putInt(t);
            }
            int k = shape.k();
            for (int pos = 0; pos < shape.window(); pos++) {
                for (int i = 0; i < k; i++) {
                    int id = w.ids[pos * k + i];
                    if (shape.idBytes() == 2) {
                        record.putShort((short) id);
                    } else {
                        record.putInt(id);
                    }
                }
                for (int i = 0; i < k; i++) {
                    record.putShort(Float16.fromFloat(w.logits[pos * k + i]));
                }
                record.putFloat(w.rest[pos]);
            }
            record.flip();
            AtomicFile.writeFully(channel, record);
            windows++;
        }

        /** Writes the header, syncs and renames into place; returns what the manifest records. */
        public Shard finish() throws IOException {
            ByteBuffer header = ByteBuffer.allocate(HEADER_BYTES).order(ByteOrder.LITTLE_ENDIAN);
            header.put(MAGIC).putInt(VERSION).putInt(shape.window()).putInt(shape.k()).putInt(shape.vocab())
                    .putInt(shape.idBytes()).putFloat(shape.temperature()).putLong(windows);
            header.position(HEADER_BYTES).flip();
            ShardFile.Sealed sealed = ShardFile.seal(channel, header, tmp, target);
            finished = true;
            return new Shard(target.getFileName().toString(), sealed.sha256(), windows, sealed.bytes());
        }

        /** Abandons an unfinished shard: nothing appears under the final name. */
        @Override
        public void close() throws IOException {
            if (!finished) {
                channel.close();
                java.nio.file.Files.deleteIfExists(tmp);
            }
        }
    }

    /** Reads a shard's windows by index; the header and the file's length are checked on open. */
    public static final class Reader implements AutoCloseable {
        private final Path file;
        private final FileChannel channel;
        private final Header header;
        private final ByteBuffer record;

        public Reader(Path file) throws IOException {
            this.file = file;
            this.channel = FileChannel.open(file, StandardOpenOption.READ);
            try {
                ByteBuffer h = ShardFile.readHeader(channel, file, HEADER_BYTES, MAGIC, VERSION, "teacher-logit shard");
                header = new Header(h.getInt(), h.getInt(), h.getInt(), h.getInt(), h.getFloat(), h.getLong());
                if (header.window() < 1 || header.k() < 1 || header.k() > header.vocab()
                        || (header.idBytes() != 2 && header.idBytes() != 4) || header.windows() < 0) {
                    throw new ShardFormatException(file, "has a bad header " + header);
                }
                // Bounded before multiplying, so that neither the record nor windows × record wraps a long.
                long recordBytes = header.recordBytes();
                if (recordBytes > MAX_RECORD_BYTES) {
                    throw new ShardFormatException(file, "has a header " + header + " whose windows take " + recordBytes
                            + " bytes each; expected at most " + MAX_RECORD_BYTES);
                }
                long size = channel.size();
                if (header.windows() > (size - HEADER_BYTES) / recordBytes
                        || size != HEADER_BYTES + header.windows() * recordBytes) {
                    throw new ShardFormatException(file, "is " + size + " bytes, but its header promises "
                            + header.windows() + " windows of " + recordBytes + " bytes after its " + HEADER_BYTES
                            + "-byte header: truncated?");
                }
            } catch (IOException | RuntimeException e) {
                channel.close();
                throw e;
            }
            // No windows: nothing will be read, and the file has not paid for a record's buffer.
            this.record = ByteBuffer.allocate(header.windows() == 0 ? 0 : (int) header.recordBytes())
                    .order(ByteOrder.LITTLE_ENDIAN);
        }

        public Header header() {
            return header;
        }

        /** Reads window {@code index} into {@code w}. */
        public void read(long index, Window w) throws IOException {
            if (index < 0 || index >= header.windows()) {
                throw new IndexOutOfBoundsException(file + ": window " + index + " of " + header.windows());
            }
            record.clear();
            long pos = HEADER_BYTES + index * header.recordBytes();
            while (record.hasRemaining()) {
                if (channel.read(record, pos + record.position()) < 0) {
                    throw new ShardFormatException(file, "ends inside window " + index);
                }
            }
            record.flip();
            for (int i = 0; i < w.tokens.length; i++) {
                w.tokens[i] = record.getInt();
            }
            int k = header.k();
            for (int p = 0; p < header.window(); p++) {
                for (int i = 0; i < k; i++) {
                    w.ids[p * k + i] = header.idBytes() == 2 ? record.getShort() & 0xFFFF : record.getInt();
                }
                for (int i = 0; i < k; i++) {
                    w.logits[p * k + i] = Float16.toFloat(record.getShort());
                }
                w.rest[p] = record.getFloat();
            }
        }

        @Override
        public void close() throws IOException {
            channel.close();
        }
    }
}
