package org.distillery.export;

/**
 * The two inner loops of {@link TensorEncoder}, on float32 values given as their bit patterns:
 * narrowing to a 16-bit {@link TensorType}, and transposing a strip of a matrix. They run with SIMD
 * ({@link VectorEncoding}) when the JVM has the Vector API, else one value at a time; both give the
 * same bits for every float (NaN included), which {@code EncodingTest} checks over all 2^32.
 */
final class Encoding {
    /** Whether the Vector API (an incubator module in Java 17) is in the boot layer. */
    static final boolean SIMD = ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();

    private Encoding() {
    }

    /** {@code out[i] = type(bits[from + i])} for i in [0, n); {@code type} is F16 or BF16. */
    static void narrow(TensorType type, int[] bits, int from, short[] out, int n) {
        if (SIMD) {
            VectorEncoding.narrow(type, bits, from, out, n);
        } else {
            scalar(type, bits, from, out, 0, n);
        }
    }

    /**
     * The transpose of a strip: {@code out[to + c * rows + r] = tile[r * width + c]} for r in [0, rows),
     * c in [0, w), where {@code tile} holds {@code rows} rows of {@code width} values (w of them used).
     */
    static void transpose(int[] tile, int rows, int width, int w, int[] out, int to) {
        if (SIMD) {
            VectorEncoding.transpose(tile, rows, width, w, out, to);
        } else {
            transpose(tile, 0, rows, width, w, out, to);
        }
    }

    /** {@link #transpose(int[], int, int, int, int[], int)} and {@link #narrow} in one pass: 16-bit output. */
    static void transposeNarrow(TensorType type, int[] tile, int rows, int width, int w, short[] out, int to) {
        if (SIMD) {
            VectorEncoding.transposeNarrow(type, tile, rows, width, w, out, to);
        } else {
            transposeNarrow(type, tile, 0, rows, width, w, out, to);
        }
    }

    /** The transpose of rows [r0, rows) of a strip, in blocks of rows whose cache lines stay in L1. */
    static void transpose(int[] tile, int r0, int rows, int width, int w, int[] out, int to) {
        for (int b = r0; b < rows; b += 16) {
            int end = Math.min(rows, b + 16);
            for (int c = 0; c < w; c++) {
                int base = to + c * rows;
                for (int r = b; r < end; r++) {
                    out[base + r] = tile[r * width + c];
                }
            }
        }
    }

    /** {@link #transposeNarrow(TensorType, int[], int, int, int, short[], int)} of rows [r0, rows), scalar. */
    static void transposeNarrow(TensorType type, int[] tile, int r0, int rows, int width, int w, short[] out, int to) {
        boolean half = type == TensorType.F16;
        for (int b = r0; b < rows; b += 16) {
            int end = Math.min(rows, b + 16);
            for (int c = 0; c < w; c++) {
                int base = to + c * rows;
                for (int r = b; r < end; r++) {
                    int bits = tile[r * width + c];
                    out[base + r] = half ? TensorType.toHalf(bits) : TensorType.toBfloat16(bits);
                }
            }
        }
    }

    /** {@code out[to + i] = type(bits[from + i])} for i in [0, n), one value at a time. */
    static void scalar(TensorType type, int[] bits, int from, short[] out, int to, int n) {
        switch (type) {
            case F16 -> {
                for (int i = 0; i < n; i++) {
                    out[to + i] = TensorType.toHalf(bits[from + i]);
                }
            }
            case BF16 -> {
                for (int i = 0; i < n; i++) {
                    out[to + i] = TensorType.toBfloat16(bits[from + i]);
                }
            }
            default -> throw new IllegalArgumentException(type + " is not a 16-bit type");
        }
    }
}
