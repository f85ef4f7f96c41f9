package org.distillery.export;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.distillery.core.DistilleryException;
import org.distillery.core.io.Quoted;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * A safetensors file, its header read and checked before any tensor is: the header length against
 * the file size and a 100 MB cap (the reference implementation's), every tensor's dtype, shape and
 * byte range against each other and the file, ranges neither overlapping nor leaving holes. Tensors
 * are then read one at a time, so a bad file costs neither a huge allocation nor a JVM crash.
 */
public final class SafetensorsFile {
    /** The reference implementation refuses headers over 100 MB. */
    static final long MAX_HEADER = 100L << 20;
    private static final ObjectMapper JSON = new ObjectMapper();

    /** One tensor's entry: its dtype, shape and byte range within the data that follows the header. */
    public record Entry(String name, TensorType type, long[] shape, long begin, long end) {
        public long elements() {
            long n = 1;
            for (long d : shape) {
                n *= d;
            }
            return n;
        }
    }

    private final Path file;
    private final long dataStart;
    private final Map<String, Entry> entries;
    private final Map<String, String> metadata;

    private SafetensorsFile(Path file, long dataStart, Map<String, Entry> entries, Map<String, String> metadata) {
        this.file = file;
        this.dataStart = dataStart;
        this.entries = entries;
        this.metadata = metadata;
    }

    /** Opens and checks {@code file}; an error naming the file and what is wrong otherwise. */
    public static SafetensorsFile open(Path file) {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < 8) {
                throw bad(file, "is " + size + " bytes long, shorter than the 8-byte header length: truncated?");
            }
            ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readFully(ch, len, 0, file);
            long n = len.flip().getLong();
            if (n < 2 || n > MAX_HEADER) {
                throw bad(file, "declares a header of " + n + " bytes; expected 2 to " + MAX_HEADER);
            }
            if (n > size - 8) {
                throw bad(file, "declares a header of " + n + " bytes but holds only " + (size - 8)
                        + " after its length: truncated?");
            }
            ByteBuffer header = ByteBuffer.allocate((int) n);
            readFully(ch, header, 8, file);
            JsonNode root;
            try {
                root = JSON.readTree(header.array());
            } catch (JsonProcessingException e) {
                throw bad(file, "has a header that is not JSON: " + e.getOriginalMessage());
            }
            if (root == null || !root.isObject()) {
                throw bad(file, "has a header that is not a JSON object");
            }
            return parse(file, root, 8 + n, size - 8 - n);
        } catch (NoSuchFileException e) {
            throw new DistilleryException(file + ": no such file");
        } catch (IOException e) {
            throw new DistilleryException(file + ": cannot read: " + e.getMessage(), e);
        }
    }

    private static SafetensorsFile parse(Path file, JsonNode root, long dataStart, long dataSize) {
        Map<String, Entry> entries = new LinkedHashMap<>();
        Map<String, String> metadata = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> f = it.next();
            String name = f.getKey();
            JsonNode v = f.getValue();
            if (name.equals("__metadata__")) {
                if (!v.isObject()) {
                    throw bad(file, "has a __metadata__ that is not an object of strings");
                }
                v.fields().forEachRemaining(m -> {
                    if (!m.getValue().isTextual()) {
                        throw bad(file, "__metadata__." + Quoted.of(m.getKey()) + " is not a string");
                    }
                    metadata.put(m.getKey(), m.getValue().asText());
                });
                continue;
            }
            entries.put(name, entry(file, name, v, dataSize));
        }
        List<Entry> byOffset = new ArrayList<>(entries.values());
        // By begin, then end, as the reference implementation: an empty tensor may share its offset with the next.
        byOffset.sort(Comparator.comparingLong(Entry::begin).thenComparingLong(Entry::end));
        long expected = 0;
        for (Entry e : byOffset) {
            if (e.begin() != expected) {
                throw bad(file, "tensor " + Quoted.of(e.name()) + " starts at byte " + e.begin() + " of the data, expected "
                        + expected + (e.begin() < expected ? " (it overlaps the one before)" : " (a hole before it)"));
            }
            expected = e.end();
        }
        if (expected != dataSize) {
            throw bad(file, "holds " + dataSize + " bytes of tensor data but its header accounts for " + expected
                    + (dataSize < expected ? ": truncated?" : ""));
        }
        return new SafetensorsFile(file, dataStart, Collections.unmodifiableMap(entries),
                Collections.unmodifiableMap(metadata));
    }

    private static Entry entry(Path file, String name, JsonNode v, long dataSize) {
        String where = "tensor " + Quoted.of(name);
        if (!v.isObject()) {
            throw bad(file, where + " is not an object with dtype, shape and data_offsets");
        }
        JsonNode dtype = v.get("dtype");
        TensorType type;
        String d = dtype == null ? null : dtype.asText();
        if ("F32".equals(d)) {
            type = TensorType.F32;
        } else if ("F16".equals(d)) {
            type = TensorType.F16;
        } else if ("BF16".equals(d)) {
            type = TensorType.BF16;
        } else {
            throw bad(file, where + " has dtype " + d + "; expected F32, F16 or BF16");
        }
        JsonNode shape = v.get("shape");
        if (shape == null || !shape.isArray() || shape.size() > 8) {
            throw bad(file, where + " has no shape (an array of at most 8 sizes)");
        }
        long[] dims = new long[shape.size()];
        long elements = 1;
        for (int i = 0; i < dims.length; i++) {
            JsonNode s = shape.get(i);
            if (!s.canConvertToLong() || !s.isIntegralNumber() || s.asLong() < 0) {
                throw bad(file, where + " has shape " + shape + "; expected non-negative integers");
            }
            dims[i] = s.asLong();
            elements = multiplyBounded(elements, dims[i], file, where);
        }
        JsonNode offsets = v.get("data_offsets");
        if (offsets == null || !offsets.isArray() || offsets.size() != 2 || !offsets.get(0).isIntegralNumber()
                || !offsets.get(1).isIntegralNumber()) {
            throw bad(file, where + " has no data_offsets [begin, end]");
        }
        if (!offsets.get(0).canConvertToLong() || !offsets.get(1).canConvertToLong()) {
            // asLong() would wrap a bigger number around into a plausible offset.
            throw bad(file, where + " has data_offsets " + offsets + " beyond any file's size");
        }
        long begin = offsets.get(0).asLong();
        long end = offsets.get(1).asLong();
        if (begin < 0 || end < begin || end > dataSize) {
            throw bad(file, where + " has data_offsets [" + begin + ", " + end + "] outside the " + dataSize
                    + " bytes of tensor data: truncated?");
        }
        if (end - begin != elements * type.bytes()) {
            throw bad(file, where + " has shape " + Arrays.toString(dims) + " of " + d + " (" + elements * type.bytes()
                    + " bytes) but data_offsets span " + (end - begin) + " bytes");
        }
        return new Entry(name, type, dims, begin, end);
    }

    private static long multiplyBounded(long a, long b, Path file, String where) {
        if (b != 0 && a > Long.MAX_VALUE / 8 / b) {
            throw bad(file, where + " has an absurdly large shape");
        }
        return a * b;
    }

    public Path file() {
        return file;
    }

    /** Tensor entries in header order. */
    public Map<String, Entry> entries() {
        return entries;
    }

    public Map<String, String> metadata() {
        return metadata;
    }

    /** The tensor's values as float32, shaped; an error naming the file and tensor if it is absent. */
    public INDArray read(String name) {
        Entry e = entries.get(name);
        if (e == null) {
            throw new DistilleryException(file + ": has no tensor " + Quoted.of(name));
        }
        if (e.elements() > Integer.MAX_VALUE) {
            throw new DistilleryException(file + ": tensor " + Quoted.of(name) + " has " + e.elements() + " values, more than one"
                    + " array holds");
        }
        float[] values = new float[(int) e.elements()];
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            ByteBuffer buf = ByteBuffer.allocate((int) Math.min(1 << 20, e.end() - e.begin())).order(ByteOrder.LITTLE_ENDIAN);
            long pos = dataStart + e.begin();
            int i = 0;
            while (i < values.length) {
                buf.clear().limit((int) Math.min(buf.capacity(), (long) (values.length - i) * e.type().bytes()));
                readFully(ch, buf, pos, file);
                pos += buf.limit();
                buf.flip();
                if (e.type() == TensorType.F32) {
                    int n = buf.remaining() / 4;
                    buf.asFloatBuffer().get(values, i, n); // the buffer is little-endian, as the file
                    i += n;
                    continue;
                }
                while (buf.remaining() >= e.type().bytes()) {
                    values[i++] = e.type().get(buf);
                }
            }
        } catch (IOException ex) {
            throw new DistilleryException(file + ": cannot read tensor " + Quoted.of(name) + ": " + ex.getMessage(), ex);
        }
        long[] shape = e.shape().length == 0 ? new long[] {1} : e.shape();
        return Nd4j.create(values, shape, DataType.FLOAT);
    }

    private static void readFully(FileChannel ch, ByteBuffer buf, long pos, Path file) throws IOException {
        while (buf.hasRemaining()) {
            int n = ch.read(buf, pos);
            if (n < 0) {
                throw bad(file, "ends early at byte " + pos + ": truncated?");
            }
            pos += n;
        }
    }

    private static DistilleryException bad(Path file, String what) {
        return new DistilleryException(file + ": " + what);
    }
}
