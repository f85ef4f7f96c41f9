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
        INDArray a = values.dataType() == DataType.FLOAT && !values.isView() ? values : values.castTo(DataType.FLOAT).dup('c');
        ByteBuffer src = a.data().asNio().order(ByteOrder.nativeOrder());
        int n = (int) a.length();
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
        java.nio.FloatBuffer floats = src.asFloatBuffer();
        chunk.clear();
        for (int i = 0; i < n; i++) {
            if (chunk.remaining() < 4) {
                out.write(chunk.array(), 0, chunk.position());
                chunk.clear();
            }
            type.put(chunk, floats.get(i));
        }
        out.write(chunk.array(), 0, chunk.position());
        chunk.clear();
    }
}
