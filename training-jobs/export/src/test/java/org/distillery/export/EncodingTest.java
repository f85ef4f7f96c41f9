package org.distillery.export;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The SIMD loops give the scalar code's bits: narrowing over every one of the 2^32 float bit patterns
 * (NaNs, infinities, subnormals and every rounding tie included), transposing over shapes that leave
 * lane tails. The scalar narrowing itself is checked against an exact search in {@code TensorTypeTest}.
 */
class EncodingTest {
    @Test
    void theVectorApiIsOnInTests() {
        assertTrue(Encoding.SIMD, "tests run with --add-modules=jdk.incubator.vector, so the SIMD path is the one tested");
    }

    @Test
    void simdNarrowingEqualsScalarForEveryFloat() {
        int block = 1 << 20;
        int[] bits = new int[block];
        short[] simd = new short[block];
        short[] scalar = new short[block];
        for (TensorType type : new TensorType[] {TensorType.F16, TensorType.BF16}) {
            for (long base = 0; base < (1L << 32); base += block) {
                for (int i = 0; i < block; i++) {
                    bits[i] = (int) (base + i);
                }
                Encoding.narrow(type, bits, 0, simd, block);
                Encoding.scalar(type, bits, 0, scalar, 0, block);
                if (!java.util.Arrays.equals(simd, scalar)) {
                    for (int i = 0; i < block; i++) {
                        if (simd[i] != scalar[i]) {
                            throw new AssertionError(String.format("%s of bits %08x: SIMD %04x, scalar %04x", type,
                                    bits[i], simd[i], scalar[i]));
                        }
                    }
                }
            }
        }
    }

    @Test
    void narrowingHonoursOffsetsAndTails() {
        int[] bits = new SplittableRandom(3).ints(1000).toArray();
        for (int n : new int[] {0, 1, 15, 17, 33, 999}) {
            short[] simd = new short[n];
            short[] scalar = new short[n];
            Encoding.narrow(TensorType.F16, bits, 1, simd, n);
            Encoding.scalar(TensorType.F16, bits, 1, scalar, 0, n);
            assertArrayEquals(scalar, simd, "n = " + n);
        }
    }

    @Test
    void simdTransposeEqualsScalar() {
        SplittableRandom r = new SplittableRandom(5);
        for (int[] shape : new int[][] {{1, 1}, {3, 5}, {16, 64}, {37, 29}, {768, 341}, {100, 7}}) {
            int rows = shape[0];
            int width = shape[1] + 3; // a tile wider than the columns used
            int w = shape[1];
            int[] tile = r.ints((long) rows * width).toArray();
            int to = 11;
            int[] simd = new int[to + rows * w];
            int[] scalar = new int[to + rows * w];
            Encoding.transpose(tile, rows, width, w, simd, to);
            Encoding.transpose(tile, 0, rows, width, w, scalar, to);
            assertArrayEquals(scalar, simd, rows + "x" + w);
            for (int c = 0; c < w; c++) {
                for (int row = 0; row < rows; row++) {
                    if (scalar[to + c * rows + row] != tile[row * width + c]) {
                        throw new AssertionError("transpose of " + rows + "x" + w + " wrong at " + row + "," + c);
                    }
                }
            }
            for (TensorType type : new TensorType[] {TensorType.F16, TensorType.BF16}) {
                short[] fusedSimd = new short[to + rows * w];
                short[] fusedScalar = new short[to + rows * w];
                Encoding.transposeNarrow(type, tile, rows, width, w, fusedSimd, to);
                Encoding.transposeNarrow(type, tile, 0, rows, width, w, fusedScalar, to);
                assertArrayEquals(fusedScalar, fusedSimd, type + " " + rows + "x" + w);
                for (int i = 0; i < rows * w; i++) {
                    short expected = type == TensorType.F16 ? TensorType.toHalf(scalar[to + i])
                            : TensorType.toBfloat16(scalar[to + i]);
                    if (fusedScalar[to + i] != expected) {
                        throw new AssertionError(type + " transposed narrowing wrong at " + i);
                    }
                }
            }
        }
    }
}
