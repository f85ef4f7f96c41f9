package org.distillery.export;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.distillery.core.DistilleryException;
import org.distillery.core.io.Quoted;

/**
 * A GGUF file's metadata and tensor infos, read and checked: magic, version 2 or 3, every count,
 * string and array length against the bytes left in the file (so a corrupt length cannot ask for a
 * huge allocation), tensor dims, types and data ranges against the file. Tensor data is not read.
 */
public final class GgufFile {
    /**
     * Array values a file's metadata may hold in all: ample for vocabularies (a 256k-token one holds about 800k
     * in tokens, scores and types), and a bound on the boxed Longs and Strings they cost.
     */
    static final long MAX_ARRAY_VALUES = 1L << 24;

    /** Metadata values: Long for integers, Double for floats, Boolean, String, or a List of those. */
    private final Map<String, Object> metadata;
    private final Map<String, TensorInfo> tensors;
    private final int version;

    public record TensorInfo(String name, long[] dims, int type, long offset) {
    }

    private GgufFile(int version, Map<String, Object> metadata, Map<String, TensorInfo> tensors) {
        this.version = version;
        this.metadata = metadata;
        this.tensors = tensors;
    }

    public int version() {
        return version;
    }

    public Map<String, Object> metadata() {
        return metadata;
    }

    public Map<String, TensorInfo> tensors() {
        return tensors;
    }

    public static GgufFile open(Path file) {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            Cursor c = new Cursor(ch, file);
            int magic = c.u32();
            if (magic != GgufWriter.MAGIC) {
                throw bad(file, String.format("starts with 0x%08x, not the GGUF magic (\"GGUF\"): not a GGUF file", magic));
            }
            int version = c.u32();
            if (version != 2 && version != 3) {
                throw bad(file, "is GGUF version " + Integer.toUnsignedString(version) + "; expected 2 or 3");
            }
            long tensorCount = c.count("tensor count", 24);
            long kvCount = c.count("metadata count", 12);
            Map<String, Object> metadata = new LinkedHashMap<>();
            for (long i = 0; i < kvCount; i++) {
                String key = c.string("metadata key " + i);
                if (metadata.containsKey(key)) {
                    throw bad(file, "metadata key " + Quoted.of(key) + " appears twice");
                }
                int type = c.u32();
                metadata.put(key, c.value(type, key, 0));
            }
            long alignment = metadata.get("general.alignment") instanceof Long a ? a : GgufWriter.ALIGNMENT;
            if (alignment <= 0 || alignment > 1 << 20 || Long.bitCount(alignment) != 1) {
                throw bad(file, "general.alignment is " + alignment + "; expected a power of two");
            }
            Map<String, TensorInfo> tensors = new LinkedHashMap<>();
            List<long[]> ranges = new ArrayList<>();
            for (long i = 0; i < tensorCount; i++) {
                String name = c.string("tensor name " + i);
                if (tensors.containsKey(name)) {
                    throw bad(file, "tensor " + Quoted.of(name) + " appears twice");
                }
                int nDims = c.u32();
                if (nDims < 1 || nDims > 4) {
                    throw bad(file, "tensor " + Quoted.of(name) + " has " + nDims + " dims; expected 1 to 4");
                }
                long[] dims = new long[nDims];
                long elements = 1;
                for (int d = 0; d < nDims; d++) {
                    dims[d] = c.u64();
                    if (dims[d] < 0 || (dims[d] != 0 && elements > Long.MAX_VALUE / 8 / dims[d])) {
                        throw bad(file, "tensor " + Quoted.of(name) + " has an impossible dim " + Long.toUnsignedString(dims[d]));
                    }
                    elements *= dims[d];
                }
                int type = c.u32();
                long bytes = switch (type) {
                    case 0 -> elements * 4; // F32
                    case 1 -> elements * 2; // F16
                    case 2, 8, 14 -> { // Q4_0, Q8_0 (blocks of 32), Q6_K (super-blocks of 256) along the first dim
                        GgmlBlocks blocks = GgmlBlocks.ofGgmlId(type);
                        if (dims[0] % blocks.values != 0) {
                            throw bad(file, "tensor " + Quoted.of(name) + " is " + blocks + " but its rows of " + dims[0]
                                    + " values are no whole number of " + blocks.values + "-value blocks");
                        }
                        yield blocks.bytes(elements);
                    }
                    default -> throw bad(file, "tensor " + Quoted.of(name) + " has ggml type " + type + "; expected 0 (F32),"
                            + " 1 (F16), 2 (Q4_0), 8 (Q8_0) or 14 (Q6_K)");
                };
                long offset = c.u64();
                if (offset < 0 || offset % alignment != 0) {
                    throw bad(file, "tensor " + Quoted.of(name) + " starts at offset " + offset + ", not a multiple of " + alignment);
                }
                tensors.put(name, new TensorInfo(name, dims, type, offset));
                ranges.add(new long[] {offset, bytes});
            }
            long dataStart = (c.position() + alignment - 1) / alignment * alignment;
            // Offsets and sizes come from the file: compared by subtraction, as their sum can overflow a long.
            long data = ch.size() - dataStart;
            List<String> names = new ArrayList<>(tensors.keySet());
            for (int i = 0; i < ranges.size(); i++) {
                long[] r = ranges.get(i);
                if (r[1] > data || r[0] > data - r[1]) {
                    throw bad(file, "tensor " + Quoted.of(names.get(i)) + " needs " + r[1] + " bytes at offset " + r[0]
                            + " of the data, but the file has " + Math.max(0, data) + " bytes of data: truncated?");
                }
            }
            List<Integer> byOffset = new ArrayList<>();
            for (int i = 0; i < ranges.size(); i++) {
                byOffset.add(i);
            }
            byOffset.sort(java.util.Comparator.comparingLong((Integer i) -> ranges.get(i)[0])
                    .thenComparingLong(i -> ranges.get(i)[1]));
            for (int k = 1; k < byOffset.size(); k++) {
                long[] before = ranges.get(byOffset.get(k - 1));
                long[] r = ranges.get(byOffset.get(k));
                if (r[0] < before[0] + before[1]) {
                    throw bad(file, "tensor " + Quoted.of(names.get(byOffset.get(k))) + " at offset " + r[0]
                            + " overlaps tensor " + Quoted.of(names.get(byOffset.get(k - 1))) + ", which ends at "
                            + (before[0] + before[1]));
                }
            }
            return new GgufFile(version, Collections.unmodifiableMap(metadata), Collections.unmodifiableMap(tensors));
        } catch (NoSuchFileException e) {
            throw new DistilleryException(file + ": no such file");
        } catch (IOException e) {
            throw new DistilleryException(file + ": cannot read: " + e.getMessage(), e);
        }
    }

    static DistilleryException bad(Path file, String what) {
        return new DistilleryException(file + ": " + what);
    }

    /** Sequential little-endian reads through a small window, never past the file's end. */
    private static final class Cursor {
        private final FileChannel ch;
        private final Path file;
        private final long size;
        private final ByteBuffer buf = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
        private long bufStart;
        /** Array values read so far. */
        private long values;

        Cursor(FileChannel ch, Path file) throws IOException {
            this.ch = ch;
            this.file = file;
            this.size = ch.size();
            buf.limit(0);
        }

        long position() {
            return bufStart + buf.position();
        }

        long left() {
            return size - position();
        }

        private void need(int n) throws IOException {
            if (n > left()) {
                throw bad(file, "ends at byte " + size + " while reading " + n + " more bytes at " + position()
                        + ": truncated?");
            }
            if (buf.remaining() >= n) {
                return;
            }
            long pos = position();
            buf.clear();
            bufStart = pos;
            while (buf.position() < n) {
                if (ch.read(buf, pos + buf.position()) < 0) {
                    throw bad(file, "ends early at byte " + (pos + buf.position()) + ": truncated?");
                }
            }
            buf.flip();
        }

        int u32() throws IOException {
            need(4);
            return buf.getInt();
        }

        long u64() throws IOException {
            need(8);
            return buf.getLong();
        }

        /** A count of items each at least {@code minBytes} long: no more than the file can hold. */
        long count(String what, long minBytes) throws IOException {
            long n = u64();
            if (n < 0 || n > left() / minBytes) {
                throw bad(file, what + " is " + Long.toUnsignedString(n) + ", more than the " + left()
                        + " bytes left can hold: corrupt?");
            }
            return n;
        }

        String string(String what) throws IOException {
            long n = u64();
            if (n < 0 || n > left() || n > 1 << 24) {
                throw bad(file, what + " has length " + Long.toUnsignedString(n) + " at byte " + (position() - 8)
                        + ", beyond the file or 16 MB: corrupt?");
            }
            byte[] b = new byte[(int) n];
            int off = 0;
            while (off < n) {
                int chunk = (int) Math.min(n - off, buf.capacity());
                need(chunk);
                buf.get(b, off, chunk);
                off += chunk;
            }
            try {
                return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                        .decode(ByteBuffer.wrap(b)).toString();
            } catch (CharacterCodingException e) {
                throw bad(file, what + " is not UTF-8");
            }
        }

        Object value(int type, String key, int depth) throws IOException {
            switch (type) {
                case 0, 1 -> { need(1); return (long) (type == 0 ? buf.get() & 0xFF : buf.get()); }
                case 2, 3 -> { need(2); short s = buf.getShort(); return (long) (type == 2 ? s & 0xFFFF : s); }
                case 4 -> { return Integer.toUnsignedLong(u32()); }
                case 5 -> { return (long) u32(); }
                case 6 -> { need(4); return (double) buf.getFloat(); }
                case 7 -> { need(1); return buf.get() != 0; }
                case 8 -> { return string("value of " + Quoted.of(key)); }
                case 9 -> {
                    if (depth > 0) {
                        throw bad(file, Quoted.of(key) + " nests arrays; expected a flat array");
                    }
                    int elementType = u32();
                    int width = switch (elementType) {
                        case 0, 1, 7 -> 1;
                        case 2, 3 -> 2;
                        case 4, 5, 6 -> 4;
                        case 8, 10, 11, 12 -> 8; // a string is at least its u64 length
                        case 9 -> throw bad(file, Quoted.of(key) + " nests arrays; expected a flat array");
                        default -> throw bad(file, Quoted.of(key) + " is an array of value type " + elementType
                                + "; expected 0 to 12");
                    };
                    long n = count(Quoted.of(key) + " array length", width);
                    // Each value is boxed: bound them all, not just by the bytes a file could hold.
                    if (n > MAX_ARRAY_VALUES - values) {
                        throw bad(file, Quoted.of(key) + " array length " + n + " takes the file's array values past "
                                + MAX_ARRAY_VALUES + ", more than any tokenizer needs: corrupt?");
                    }
                    values += n;
                    List<Object> list = new ArrayList<>((int) Math.min(n, 1 << 16));
                    for (long i = 0; i < n; i++) {
                        list.add(value(elementType, key, depth + 1));
                    }
                    return list;
                }
                case 10, 11 -> { return u64(); }
                case 12 -> { need(8); return buf.getDouble(); }
                default -> throw bad(file, Quoted.of(key) + " has value type " + type + "; expected 0 to 12");
            }
        }
    }
}
