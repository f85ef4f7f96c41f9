package org.distillery.export;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.lang.ref.Reference;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.IntBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.WritableByteChannel;
import java.util.ArrayDeque;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Writes tensors' float32 values to a channel as little-endian bytes of a {@link TensorType}, in
 * row-major order or as the transpose of a matrix, with no copy of a whole tensor. Float32 in
 * row-major order goes straight from the array's native memory to the channel. Everything else is
 * cut into blocks of at most {@link #BLOCK} values that one thread per core encodes (SIMD where the
 * JVM allows) into pooled direct buffers. Into a file, each encoder thread then writes its block in
 * place (a positional write: a block's offset is known before it is encoded), so that encoding and
 * the copy into the page cache run on every core; into another channel, the calling thread writes
 * the finished blocks in order. One encoder serves one file, and every write goes through it while
 * it is open (it keeps its own position); {@link #drain} and {@link #close} complete what is queued
 * and leave the channel's position after the last byte.
 */
final class TensorEncoder implements AutoCloseable {
    /** Values per block: 1 MB of float32. */
    static final int BLOCK = 1 << 18;
    /**
     * The most source columns a transposing block reads: 2 KB of each row. Wider tiles make the
     * gather's loads, a row apart, miss L1 and the TLB.
     */
    private static final int MAX_WIDTH = 512;

    private final WritableByteChannel out;
    /** {@code out} when it is a file: blocks are then written in place by the encoder threads. */
    private final FileChannel file;
    /** Where the next byte goes, in file mode. */
    private long position;
    private final int threads = Math.max(1, Runtime.getRuntime().availableProcessors());
    private final ExecutorService encoders = Executors.newFixedThreadPool(threads, r -> {
        Thread t = new Thread(r, "distillery-export-encoder");
        t.setDaemon(true);
        return t;
    });
    /** Blocks queued or being encoded, in file order; at most {@link #inFlight} of them. */
    private final ArrayDeque<Future<ByteBuffer>> queued = new ArrayDeque<>();
    private final int inFlight = 2 * threads;
    /** Direct buffers of BLOCK float32s, one per block in flight. */
    private final BlockingQueue<ByteBuffer> buffers = new ArrayBlockingQueue<>(inFlight);
    /** Each encoder thread's scratch arrays. */
    private final ThreadLocal<Scratch> scratch = ThreadLocal.withInitial(Scratch::new);

    TensorEncoder(WritableByteChannel out) throws IOException {
        this.out = out;
        this.file = out instanceof FileChannel f ? f : null;
        this.position = file != null ? file.position() : 0;
        for (int i = 0; i < inFlight; i++) {
            buffers.add(ByteBuffer.allocateDirect(BLOCK * 4).order(ByteOrder.LITTLE_ENDIAN));
        }
    }

    /** Writes {@code bytes} (from position to limit) whole, after everything queued before it. */
    void write(ByteBuffer bytes) throws IOException {
        if (file != null) {
            while (bytes.hasRemaining()) {
                position += file.write(bytes, position);
            }
        } else {
            drain();
            writeFully(bytes);
        }
    }

    /** Writes {@code n} zero bytes (alignment padding). */
    void pad(int n) throws IOException {
        write(ByteBuffer.allocate(n));
    }

    /** Writes an array's values in row-major order as {@code type}. */
    void write(INDArray values, TensorType type) throws IOException {
        INDArray a = readable(values);
        int n = (int) a.length();
        ByteBuffer src = nio(a, n);
        if (type == TensorType.F32 && ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN) {
            try {
                write(src); // the channel reads native memory directly
            } finally {
                // The NIO view does not own the array's native memory: the array must stay reachable
                // until the last byte is read, or ND4J's deallocator may free it mid-write.
                Reference.reachabilityFence(a);
            }
            return;
        }
        IntBuffer ints = src.order(ByteOrder.nativeOrder()).asIntBuffer();
        for (int from = 0; from < n; from += BLOCK) {
            int start = from;
            int len = Math.min(BLOCK, n - from);
            submit((long) len * type.bytes(), chunk -> {
                try {
                    Scratch s = scratch.get();
                    ints.get(start, s.bits, 0, len);
                    encode(s, s.bits, len, type, chunk);
                } finally {
                    Reference.reachabilityFence(a);
                }
            });
        }
    }

    /**
     * Writes the transpose of a row-major matrix as {@code type}. A block is a range of source columns
     * (output rows): each row's segment of that range is read in bulk, a contiguous read the hardware
     * prefetches well, and the block is gathered into output order in memory. A column longer than a
     * block is cut into ranges of rows.
     */
    void writeTransposed(INDArray matrix, TensorType type) throws IOException {
        forEachTransposedBlock(matrix, n -> n * type.bytes(), (s, tile, height, w, chunk) -> {
            int n = w * height;
            if (type == TensorType.F32) {
                Encoding.transpose(tile, height, w, w, s.bits, 0);
                encode(s, s.bits, n, type, chunk);
            } else {
                Encoding.transposeNarrow(type, tile, height, w, w, s.narrow, 0);
                chunk.asShortBuffer().put(s.narrow, 0, n);
                chunk.position(n * 2);
            }
        });
    }

    /** Encodes one block of a transposed matrix: {@code tile} holds its {@code height} source rows of {@code w}. */
    @FunctionalInterface
    private interface TileEncoder {
        void encode(Scratch s, int[] tile, int height, int w, ByteBuffer chunk) throws IOException;
    }

    /**
     * Cuts the transpose of a row-major matrix into encoder blocks, a range of source columns (output rows) each,
     * of {@code bytesOf(values)} output bytes: each row's segment of that range is
     * read in bulk, a contiguous read the hardware prefetches well, into the tile {@code encoder} writes out. A
     * column longer than a block is cut into ranges of rows (BLOCK values, a multiple of 256).
     */
    private void forEachTransposedBlock(INDArray matrix, java.util.function.LongUnaryOperator bytesOf,
                                        TileEncoder encoder) throws IOException {
        INDArray a = readable(matrix);
        int rows = (int) a.rows();
        int cols = (int) a.columns();
        IntBuffer src = nio(a, rows * cols).order(ByteOrder.nativeOrder()).asIntBuffer();
        int span = Math.min(rows, BLOCK); // rows per block
        int width = Math.max(1, Math.min(MAX_WIDTH, BLOCK / span)); // columns per block
        for (int c0 = 0; c0 < cols; c0 += width) {
            for (int r0 = 0; r0 < rows; r0 += span) {
                int first = c0;
                int w = Math.min(width, cols - c0);
                int top = r0;
                int height = Math.min(rows, r0 + span) - r0;
                submit(bytesOf.applyAsLong((long) w * height), chunk -> {
                    try {
                        Scratch s = scratch.get();
                        int[] tile = s.tile(height * w);
                        for (int r = 0; r < height; r++) {
                            src.get((top + r) * cols + first, tile, r * w, w);
                        }
                        encoder.encode(s, tile, height, w, chunk);
                    } finally {
                        Reference.reachabilityFence(a);
                    }
                });
            }
        }
    }

    /**
     * Writes an array's values in row-major order as ggml blocks of {@code kind} (the row length a multiple of its
     * block, so no block spans two rows). Each encoder block quantizes its own range: BLOCK is a multiple of 256.
     */
    void writeQuantized(INDArray values, GgmlBlocks kind) throws IOException {
        INDArray a = readable(values);
        int n = (int) a.length();
        if (n % kind.values != 0) {
            throw new IllegalArgumentException(n + " values are no whole number of " + kind + " blocks");
        }
        java.nio.IntBuffer src = nio(a, n).order(ByteOrder.nativeOrder()).asIntBuffer();
        for (int from = 0; from < n; from += BLOCK) {
            int start = from;
            int len = Math.min(BLOCK, n - from);
            submit(kind.bytes(len), chunk -> {
                try {
                    Scratch s = scratch.get();
                    src.get(start, s.bits, 0, len);
                    kind.quantize(s.bits, 0, len, s.bytes, 0);
                    chunk.put(s.bytes, 0, (int) kind.bytes(len));
                } finally {
                    Reference.reachabilityFence(a);
                }
            });
        }
    }

    /**
     * Writes the transpose of a row-major matrix as ggml blocks of {@code kind}: each output row (a source column)
     * of {@code rows} values, a multiple of the kind's block. Blocks of source columns are gathered and transposed by the encoder
     * threads as in {@link #writeTransposed}, then quantized, so no transposed copy of the matrix is made first.
     */
    void writeQuantizedTransposed(INDArray matrix, GgmlBlocks kind) throws IOException {
        if (matrix.rows() % kind.values != 0) {
            throw new IllegalArgumentException("rows of " + matrix.rows() + " values are no whole number of " + kind
                    + " blocks");
        }
        forEachTransposedBlock(matrix, kind::bytes, (s, tile, height, w, chunk) -> {
            int n = w * height;
            Encoding.transpose(tile, height, w, w, s.bits, 0);
            kind.quantize(s.bits, 0, n, s.bytes, 0);
            chunk.put(s.bytes, 0, (int) kind.bytes(n));
        });
    }

    /** One block's work: fills a cleared direct buffer with the block's bytes. */
    @FunctionalInterface
    private interface Block {
        void encode(ByteBuffer chunk) throws IOException;
    }

    /** Queues a block of {@code bytes} for an encoder thread, first completing the oldest if the queue is full. */
    private void submit(long bytes, Block block) throws IOException {
        while (queued.size() >= inFlight) {
            completeOldest();
        }
        ByteBuffer chunk = buffers.poll();
        long at = position;
        position += bytes;
        queued.add(encoders.submit(() -> {
            chunk.clear();
            block.encode(chunk);
            chunk.flip();
            if (file != null) {
                while (chunk.hasRemaining()) {
                    file.write(chunk, at + chunk.position());
                }
            }
            return chunk;
        }));
    }

    /** {@code bits[0, n)} as {@code type}, little-endian, into {@code chunk}. */
    private static void encode(Scratch s, int[] bits, int n, TensorType type, ByteBuffer chunk) {
        if (type == TensorType.F32) {
            chunk.asIntBuffer().put(bits, 0, n);
            chunk.position(n * 4);
        } else {
            Encoding.narrow(type, bits, 0, s.narrow, n);
            chunk.asShortBuffer().put(s.narrow, 0, n);
            chunk.position(n * 2);
        }
    }

    /** Waits for the oldest block; writes it unless its encoder thread did. */
    private void completeOldest() throws IOException {
        ByteBuffer chunk;
        try {
            chunk = queued.poll().get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while encoding tensors");
        } catch (ExecutionException e) {
            if (e.getCause() instanceof IOException io) {
                throw io;
            }
            throw new IOException("encoding a tensor failed: " + e.getCause(), e.getCause());
        }
        if (file == null) {
            writeFully(chunk);
        }
        buffers.add(chunk);
    }

    /** Completes every queued block; rethrows the first failure. The channel's position is then after the last byte. */
    void drain() throws IOException {
        while (!queued.isEmpty()) {
            completeOldest();
        }
        if (file != null) {
            file.position(position);
        }
    }

    private void writeFully(ByteBuffer bytes) throws IOException {
        while (bytes.hasRemaining()) {
            out.write(bytes);
        }
    }

    /** Writes what is queued, then stops the encoder threads (also after a failure). */
    @Override
    public void close() throws IOException {
        try {
            drain();
        } finally {
            encoders.shutdownNow();
        }
    }

    /** An encoder thread's reusable arrays. */
    private static final class Scratch {
        final int[] bits = new int[BLOCK];
        final short[] narrow = new short[BLOCK];
        final byte[] bytes = new byte[BLOCK * 2]; // a block's quants: at most 34 bytes per 32 floats
        private int[] tile = new int[0];

        int[] tile(int n) {
            if (tile.length < n) {
                tile = new int[n];
            }
            return tile;
        }
    }

    /** The bytes of {@code a}'s {@code n} values: a view of its native memory from its offset. */
    private static ByteBuffer nio(INDArray a, int n) {
        ByteBuffer all = a.data().asNio();
        return all.position((int) (a.offset() * 4)).limit((int) ((a.offset() + n) * 4)).slice();
    }

    /**
     * {@code values} as a float32 array whose native memory holds its values in row-major order from
     * its offset: itself when it is contiguous (a tensor of the flat parameter buffer), else a copy.
     */
    private static INDArray readable(INDArray values) {
        return values.dataType() == DataType.FLOAT && (!values.isView() || contiguous(values))
                ? values : values.castTo(DataType.FLOAT).dup('c');
    }

    /** Row-major with unit strides over its whole length (ignoring dimensions of size 1). */
    private static boolean contiguous(INDArray a) {
        long expected = 1;
        long[] shape = a.shape();
        long[] stride = a.stride();
        for (int i = shape.length - 1; i >= 0; i--) {
            if (shape[i] != 1 && stride[i] != expected) {
                return false;
            }
            expected *= shape[i];
        }
        return a.ordering() == 'c' || shape.length <= 1;
    }
}
