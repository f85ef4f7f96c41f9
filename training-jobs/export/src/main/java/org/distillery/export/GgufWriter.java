package org.distillery.export;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.WritableByteChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes GGUF version 3 (ggml's file format, as llama.cpp and the {@code gguf} Python package read
 * it): the magic, counts, typed key-value metadata, tensor infos with dims fastest-first and offsets
 * aligned to {@link #ALIGNMENT}, then the tensors' little-endian bytes, each padded to the alignment.
 */
public final class GgufWriter {
    public static final int MAGIC = 0x46554747; // "GGUF" read as a little-endian uint32
    public static final int VERSION = 3;
    public static final int ALIGNMENT = 32;

    /** GGUF metadata value types. */
    enum ValueType {
        UINT8, INT8, UINT16, INT16, UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY, UINT64, INT64, FLOAT64
    }

    /** ggml tensor types this writer emits: their ids in ggml.h; a float type, or blocks of quants. */
    public enum GgmlType {
        F32(0, TensorType.F32, null), F16(1, TensorType.F16, null), Q4_0(2, null, GgmlBlocks.Q4_0),
        Q8_0(8, null, GgmlBlocks.Q8_0), Q6_K(14, null, GgmlBlocks.Q6_K);

        final int id;
        final TensorType storage;
        final GgmlBlocks blocks;

        GgmlType(int id, TensorType storage, GgmlBlocks blocks) {
            this.id = id;
            this.storage = storage;
            this.blocks = blocks;
        }

        /** Bytes of a tensor of {@code elements} values. */
        long bytes(long elements) {
            return blocks != null ? blocks.bytes(elements) : elements * storage.bytes();
        }
    }

    /** A metadata value: a scalar of a type, a string, or an array of one of those. */
    record Value(ValueType type, Object value, ValueType elementType) {
    }

    /**
     * A tensor to write: GGUF name, dims in GGUF order (fastest first), type, and its values: those of
     * {@code source} in row-major order, or of its transpose when {@code transposed} (a matrix), which
     * is then written tile by tile without a transposed copy in memory.
     */
    public record Tensor(String name, long[] dims, GgmlType type, NamedTensor source, boolean transposed) {
    }

    private final Map<String, Value> metadata = new LinkedHashMap<>();
    private final List<Tensor> tensors = new ArrayList<>();

    public GgufWriter putString(String key, String v) {
        metadata.put(key, new Value(ValueType.STRING, v, null));
        return this;
    }

    public GgufWriter putUInt32(String key, long v) {
        metadata.put(key, new Value(ValueType.UINT32, v, null));
        return this;
    }

    public GgufWriter putBool(String key, boolean v) {
        metadata.put(key, new Value(ValueType.BOOL, v, null));
        return this;
    }

    public GgufWriter putFloat32(String key, float v) {
        metadata.put(key, new Value(ValueType.FLOAT32, v, null));
        return this;
    }

    public GgufWriter putStrings(String key, List<String> v) {
        metadata.put(key, new Value(ValueType.ARRAY, v, ValueType.STRING));
        return this;
    }

    public GgufWriter putInt32s(String key, int[] v) {
        metadata.put(key, new Value(ValueType.ARRAY, v, ValueType.INT32));
        return this;
    }

    public GgufWriter addTensor(Tensor t) {
        tensors.add(t);
        return this;
    }

    public void write(WritableByteChannel out) throws IOException {
        Bytes head = new Bytes();
        head.u32(MAGIC).u32(VERSION).u64(tensors.size()).u64(metadata.size());
        for (Map.Entry<String, Value> e : metadata.entrySet()) {
            head.string(e.getKey()).u32(e.getValue().type().ordinal());
            writeValue(head, e.getValue());
        }
        long offset = 0;
        for (Tensor t : tensors) {
            head.string(t.name()).u32(t.dims().length);
            for (long d : t.dims()) {
                head.u64(d);
            }
            head.u32(t.type().id).u64(offset);
            offset = align(offset + t.type().bytes(t.source().elements()));
        }
        head.pad();
        try (TensorEncoder encoder = new TensorEncoder(out)) {
            encoder.write(head.buf.flip());
            for (Tensor t : tensors) {
                long bytes = t.type().bytes(t.source().elements());
                if (t.type().blocks != null) { // quantized along the rows as written: [out, in] rows of in values
                    if (t.transposed()) {
                        encoder.writeQuantizedTransposed(t.source().values(), t.type().blocks);
                    } else {
                        encoder.writeQuantized(t.source().values(), t.type().blocks);
                    }
                } else if (t.transposed()) {
                    encoder.writeTransposed(t.source().values(), t.type().storage);
                } else {
                    encoder.write(t.source().values(), t.type().storage);
                }
                encoder.pad((int) (align(bytes) - bytes));
            }
        }
    }

    static long align(long n) {
        return (n + ALIGNMENT - 1) / ALIGNMENT * ALIGNMENT;
    }

    @SuppressWarnings("unchecked")
    private static void writeValue(Bytes b, Value v) {
        switch (v.type()) {
            case STRING -> b.string((String) v.value());
            case UINT32 -> b.u32((Long) v.value());
            case FLOAT32 -> b.f32((Float) v.value());
            case BOOL -> b.u8((Boolean) v.value() ? 1 : 0);
            case ARRAY -> {
                b.u32(v.elementType().ordinal());
                if (v.elementType() == ValueType.STRING) {
                    List<String> list = (List<String>) v.value();
                    b.u64(list.size());
                    list.forEach(b::string);
                } else {
                    int[] ints = (int[]) v.value();
                    b.u64(ints.length);
                    for (int i : ints) {
                        b.u32(i);
                    }
                }
            }
            default -> throw new IllegalStateException("no writer for " + v.type());
        }
    }

    /** A growing little-endian byte buffer for the header. */
    private static final class Bytes {
        ByteBuffer buf = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);

        private void room(int n) {
            if (buf.remaining() < n) {
                ByteBuffer bigger = ByteBuffer.allocate(Math.max(buf.capacity() * 2, buf.position() + n))
                        .order(ByteOrder.LITTLE_ENDIAN);
                buf.flip();
                bigger.put(buf);
                buf = bigger;
            }
        }

        Bytes u8(int v) {
            room(1);
            buf.put((byte) v);
            return this;
        }

        Bytes u32(long v) {
            room(4);
            buf.putInt((int) v);
            return this;
        }

        Bytes u64(long v) {
            room(8);
            buf.putLong(v);
            return this;
        }

        Bytes f32(float v) {
            room(4);
            buf.putFloat(v);
            return this;
        }

        Bytes string(String s) {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            u64(b.length);
            room(b.length);
            buf.put(b);
            return this;
        }

        void pad() {
            int n = (int) (align(buf.position()) - buf.position());
            room(n);
            buf.put(new byte[n]);
        }
    }
}
