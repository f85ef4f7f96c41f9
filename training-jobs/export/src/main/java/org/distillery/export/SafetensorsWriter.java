package org.distillery.export;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import java.util.Map;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Writes the safetensors format (huggingface/safetensors): an 8-byte little-endian header length, a
 * JSON header naming each tensor's dtype, shape and byte range (plus string {@code __metadata__}),
 * padded with spaces to 8 bytes, then the tensors' bytes, little-endian, in header order.
 */
public final class SafetensorsWriter {
    private static final ObjectMapper JSON = new ObjectMapper();

    private SafetensorsWriter() {
    }

    /** Writes {@code tensors} converted to {@code type}, with {@code metadata} (string to string). */
    public static void write(OutputStream out, List<NamedTensor> tensors, TensorType type, Map<String, String> metadata)
            throws IOException {
        ObjectNode header = JSON.createObjectNode();
        ObjectNode meta = header.putObject("__metadata__");
        metadata.forEach(meta::put);
        long offset = 0;
        for (NamedTensor t : tensors) {
            ObjectNode n = header.putObject(t.name());
            n.put("dtype", type.name());
            ArrayNode shape = n.putArray("shape");
            for (long d : t.shape()) {
                shape.add(d);
            }
            long bytes = t.elements() * type.bytes();
            n.putArray("data_offsets").add(offset).add(offset + bytes);
            offset += bytes;
        }
        byte[] json = JSON.writeValueAsBytes(header);
        int padded = (json.length + 7) / 8 * 8;
        ByteBuffer prefix = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
        prefix.putLong(padded).put(json);
        while (prefix.hasRemaining()) {
            prefix.put((byte) ' ');
        }
        out.write(prefix.array());
        ByteBuffer chunk = ByteBuffer.allocate(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
        for (NamedTensor t : tensors) {
            writeValues(out, t.values(), type, chunk);
        }
    }

    /** Streams an array's values in row-major order, converted, through {@code chunk}. */
    static void writeValues(OutputStream out, INDArray values, TensorType type, ByteBuffer chunk) throws IOException {
        INDArray a = null;
        try {
            a = readable(values);
            stream(out, a, type, chunk);
        } finally {
            // The NIO view does not own the array's native memory: the array must stay reachable until
            // the last byte is read, or ND4J's deallocator may free it mid-copy.
            java.lang.ref.Reference.reachabilityFence(a);
        }
    }

    /**
     * {@code values} as a float32 array whose NIO view can be read in row-major order from its offset:
     * itself when it is contiguous (a tensor of the flat parameter buffer), else a row-major copy.
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

    private static void stream(OutputStream out, INDArray a, TensorType type, ByteBuffer chunk) throws IOException {
        int n = (int) a.length();
        ByteBuffer src = a.data().asNio().order(ByteOrder.nativeOrder());
        src = src.position((int) (a.offset() * 4)).limit((int) ((a.offset() + n) * 4)).slice().order(ByteOrder.nativeOrder());
        if (type == TensorType.F32 && ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN) {
            byte[] bytes = new byte[Math.min(chunk.capacity(), n * 4)];
            src.position(0).limit(n * 4);
            while (src.hasRemaining()) {
                int len = Math.min(bytes.length, src.remaining());
                src.get(bytes, 0, len);
                out.write(bytes, 0, len);
            }
            return;
        }
        // 16-bit types: convert a block at a time (bulk reads, one tight loop per type, bulk writes).
        java.nio.FloatBuffer floats = src.asFloatBuffer();
        int block = chunk.capacity() / 2;
        float[] in = new float[block];
        short[] half = new short[block];
        for (int from = 0; from < n; from += block) {
            int len = Math.min(block, n - from);
            floats.get(from, in, 0, len);
            if (type == TensorType.F16) {
                for (int i = 0; i < len; i++) {
                    half[i] = TensorType.toHalf(in[i]);
                }
            } else {
                for (int i = 0; i < len; i++) {
                    half[i] = TensorType.toBfloat16(in[i]);
                }
            }
            chunk.clear();
            chunk.asShortBuffer().put(half, 0, len);
            out.write(chunk.array(), 0, len * 2);
        }
    }

    /**
     * Streams the transpose of a row-major matrix, converted: strips of 64 source columns are read
     * (64 values from each row, in bulk) and written out as 64 rows of the transpose.
     */
    static void writeTransposed(OutputStream out, INDArray matrix, TensorType type, ByteBuffer chunk) throws IOException {
        INDArray a = null;
        try {
            a = readable(matrix);
            int rows = (int) a.rows();
            int cols = (int) a.columns();
            java.nio.FloatBuffer src = a.data().asNio().order(ByteOrder.nativeOrder()).asFloatBuffer();
            int base = (int) a.offset();
            int strip = 64;
            float[] tile = new float[rows * strip];
            chunk.clear();
            for (int c0 = 0; c0 < cols; c0 += strip) {
                int w = Math.min(strip, cols - c0);
                for (int r = 0; r < rows; r++) {
                    src.get(base + r * cols + c0, tile, r * strip, w);
                }
                for (int c = 0; c < w; c++) {
                    for (int r = 0; r < rows; r++) {
                        if (chunk.remaining() < 4) {
                            out.write(chunk.array(), 0, chunk.position());
                            chunk.clear();
                        }
                        float v = tile[r * strip + c];
                        switch (type) {
                            case F32 -> chunk.putFloat(v);
                            case F16 -> chunk.putShort(TensorType.toHalf(v));
                            case BF16 -> chunk.putShort(TensorType.toBfloat16(v));
                        }
                    }
                }
            }
            out.write(chunk.array(), 0, chunk.position());
            chunk.clear();
        } finally {
            java.lang.ref.Reference.reachabilityFence(a);
        }
    }
}
