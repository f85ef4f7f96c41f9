package org.distillery.export;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * The parallel encoder writes exactly the bytes of a one-value-at-a-time reference, in order, into a
 * file (blocks written in place by the encoder threads) and into any other channel (written in order
 * by the caller), across block boundaries, lane tails, views, and a column longer than a block.
 */
class TensorEncoderTest {
    @TempDir
    Path tmp;

    /** The reference: each value of {@code a} (row-major, or of its transpose) put one at a time. */
    private static byte[] reference(INDArray a, boolean transposed, TensorType type) {
        INDArray m = transposed ? a.transpose() : a;
        float[] v = m.dup('c').castTo(DataType.FLOAT).data().asFloat();
        ByteBuffer b = ByteBuffer.allocate(v.length * type.bytes()).order(ByteOrder.LITTLE_ENDIAN);
        for (float x : v) {
            type.put(b, x);
        }
        return b.array();
    }

    /** A header, the tensors, padding and a trailer: what a format writer does. */
    private static void writeAll(TensorEncoder e, INDArray[] tensors, boolean[] transposed, TensorType type)
            throws IOException {
        e.write(ByteBuffer.wrap("head".getBytes()));
        for (int i = 0; i < tensors.length; i++) {
            if (transposed[i]) {
                e.writeTransposed(tensors[i], type);
            } else {
                e.write(tensors[i], type);
            }
            e.pad(3);
        }
        e.write(ByteBuffer.wrap("tail".getBytes()));
    }

    private static byte[] expected(INDArray[] tensors, boolean[] transposed, TensorType type) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes("head".getBytes());
        for (int i = 0; i < tensors.length; i++) {
            out.writeBytes(reference(tensors[i], transposed[i], type));
            out.writeBytes(new byte[3]);
        }
        out.writeBytes("tail".getBytes());
        return out.toByteArray();
    }

    @Test
    void fileAndStreamGetTheReferenceBytes() throws IOException {
        Nd4j.getRandom().setSeed(7);
        INDArray flat = Nd4j.randn(DataType.FLOAT, 1, 700_000).muli(3);
        flat.putScalar(0, 1, Float.NaN);
        flat.putScalar(0, 2, 1e-7f); // a half subnormal
        flat.putScalar(0, 3, 1e6f); // half overflow
        INDArray[] tensors = {
            flat.get(NDArrayIndex.point(0), NDArrayIndex.interval(0, 300_001)), // > one block, odd length
            flat.get(NDArrayIndex.point(0), NDArrayIndex.interval(300_001, 300_001 + 768 * 345)).reshape(768, 345),
            Nd4j.randn(DataType.FLOAT, 37, 29), // lane tails in both directions
            Nd4j.randn(DataType.FLOAT, 50, 40).get(NDArrayIndex.interval(3, 20), NDArrayIndex.interval(5, 35)), // a strided view
            Nd4j.randn(DataType.DOUBLE, 5, 6), // another dtype: converted first
        };
        boolean[] transposed = {false, true, true, true, false};
        for (TensorType type : TensorType.values()) {
            byte[] want = expected(tensors, transposed, type);
            Path file = tmp.resolve(type + ".bin");
            try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                try (TensorEncoder e = new TensorEncoder(ch)) {
                    writeAll(e, tensors, transposed, type);
                }
                assertEquals(want.length, ch.position(), "the channel's position ends after the last byte");
            }
            assertArrayEquals(want, Files.readAllBytes(file), type + " into a file");
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            try (TensorEncoder e = new TensorEncoder(Channels.newChannel(bytes))) {
                writeAll(e, tensors, transposed, type);
            }
            assertArrayEquals(want, bytes.toByteArray(), type + " into a stream");
        }
    }

    @Test
    void aColumnLongerThanABlockIsCutIntoRanges() throws IOException {
        INDArray tall = Nd4j.randn(DataType.FLOAT, TensorEncoder.BLOCK + 5, 2);
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (TensorEncoder e = new TensorEncoder(Channels.newChannel(bytes))) {
            e.writeTransposed(tall, TensorType.BF16);
        }
        assertArrayEquals(reference(tall, true, TensorType.BF16), bytes.toByteArray());
    }

    @Test
    void aFailedWriteReachesTheCaller() {
        IOException full = new IOException("No space left on device");
        WritableByteChannel failing = new WritableByteChannel() {
            @Override
            public int write(ByteBuffer src) throws IOException {
                throw full;
            }

            @Override
            public boolean isOpen() {
                return true;
            }

            @Override
            public void close() {
            }
        };
        IOException thrown = assertThrows(IOException.class, () -> {
            try (TensorEncoder e = new TensorEncoder(failing)) {
                e.write(Nd4j.randn(DataType.FLOAT, 1000, 1000), TensorType.F16);
            }
        });
        assertSame(full, thrown);
    }
}
