package org.distillery.export;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@link Encoding}'s loops across SIMD lanes, loaded only when {@link Encoding#SIMD} holds. Narrowing
 * computes each case of {@link TensorType#toHalf(int)} or {@link TensorType#toBfloat16(int)} for every
 * lane and blends in the right one by mask, then narrows the lanes to shorts: 0.2-0.3 ns a value
 * against 0.5-1 ns for the scalar loop on AVX-512. Transposing gathers a column of a lane count of
 * rows per load: 0.3 ns a value against 0.8.
 *
 * <p>No method here takes or returns a vector, and reinterpretations name their species, so that C2 on
 * Java 17 compiles every vector operation to SIMD (docs/findings.md, "The engine's lost third";
 * {@code VectorCompilationTest} checks it). So the narrowing runs over whole arrays ({@link #narrowVectors}),
 * one loop for each type, and the fused transpose gathers a block of rows into a small buffer that it narrows
 * from. With a helper per type taking a vector, BF16 narrowed at 1.5 ns a value on AVX2 in a JVM that had
 * narrowed F16 first (0.15 now): its loop was cold when C2 compiled the method, the helper stayed a call, and its
 * vectors ran the API's Java fallback; and where one loop chose between the helpers, C2 did not compile the
 * narrowing convert of the vectors they returned.
 */
final class VectorEncoding {
    private static final VectorSpecies<Integer> INTS = IntVector.SPECIES_PREFERRED;
    /** The float lanes of {@link #INTS}' shape, for reinterpretations, which fold to constants naming it. */
    private static final VectorSpecies<Float> FLOATS = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Short> SHORTS =
            VectorSpecies.of(short.class, VectorShape.forBitSize(INTS.vectorBitSize() / 2));
    private static final int LANES = INTS.length();

    private VectorEncoding() {
    }

    static void transpose(int[] tile, int rows, int width, int w, int[] out, int to) {
        int[] column = column(width);
        int bound = INTS.loopBound(rows);
        for (int r0 = 0; r0 < bound; r0 += LANES) {
            gather(tile, r0, width, w, column, out, to + r0, rows);
        }
        Encoding.transpose(tile, bound, rows, width, w, out, to);
    }

    static void narrow(TensorType type, int[] bits, int from, short[] out, int n) {
        int bound = INTS.loopBound(n);
        narrowVectors(type, bits, from, bound / LANES, out, 0, LANES);
        Encoding.scalar(type, bits, from + bound, out, bound, n - bound);
    }

    /**
     * Each block of rows is gathered into {@code lanes} (L1-resident, a column's rows contiguous) and narrowed from
     * there: the narrowing is written once, over arrays, for this and {@link #narrow}.
     */
    static void transposeNarrow(TensorType type, int[] tile, int rows, int width, int w, short[] out, int to) {
        int[] column = column(width);
        int[] lanes = new int[w * LANES];
        int bound = INTS.loopBound(rows);
        for (int r0 = 0; r0 < bound; r0 += LANES) {
            gather(tile, r0, width, w, column, lanes, 0, LANES);
            narrowVectors(type, lanes, 0, w, out, to + r0, rows);
        }
        Encoding.transposeNarrow(type, tile, bound, rows, width, w, out, to);
    }

    /** Gather offsets down a column of a tile {@code width} wide. */
    private static int[] column(int width) {
        int[] column = new int[LANES];
        for (int i = 0; i < column.length; i++) {
            column[i] = i * width;
        }
        return column;
    }

    /**
     * Rows {@code [r0, r0 + LANES)} of the tile's first {@code w} columns, transposed: column c's values to {@code
     * out[to + c * step]} on, one gather of {@code column}'s offsets each.
     */
    private static void gather(int[] tile, int r0, int width, int w, int[] column, int[] out, int to, int step) {
        for (int c = 0; c < w; c++) {
            IntVector.fromArray(INTS, tile, r0 * width + c, column, 0).intoArray(out, to + c * step);
        }
    }

    /**
     * {@code vectors} vectors of float32 bits from {@code bits[from]} on, vector k narrowed to {@code type} at {@code
     * out[to + k * step]}. Each case of the scalar conversion is computed for every lane and the right one blended
     * in by mask.
     */
    private static void narrowVectors(TensorType type, int[] bits, int from, int vectors, short[] out, int to,
                                      int step) {
        if (type == TensorType.F16) {
            for (int k = 0; k < vectors; k++) {
                IntVector v = IntVector.fromArray(INTS, bits, from + k * LANES);
                IntVector b = v.and(0x7FFFFFFF);
                IntVector normal = b.add(((15 - 127) << 23) + 0xFFF).add(b.lanewise(VectorOperators.LSHR, 13).and(1))
                        .lanewise(VectorOperators.LSHR, 13);
                IntVector subnormal = ((IntVector) ((FloatVector) b.reinterpretShape(FLOATS, 0)).add(0.5f)
                        .reinterpretShape(INTS, 0)).sub(0x3F000000);
                IntVector h = normal.blend(subnormal, b.compare(VectorOperators.LT, 0x38800000))
                        .blend(0x7C00, b.compare(VectorOperators.GE, 0x47800000))
                        .blend(0x7E00, b.compare(VectorOperators.GT, 0x7F800000))
                        .or(v.and(0x80000000).lanewise(VectorOperators.LSHR, 16));
                ((ShortVector) h.convertShape(VectorOperators.I2S, SHORTS, 0)).intoArray(out, to + k * step);
            }
        } else if (type == TensorType.BF16) {
            for (int k = 0; k < vectors; k++) {
                IntVector v = IntVector.fromArray(INTS, bits, from + k * LANES);
                IntVector rounded = v.add(v.lanewise(VectorOperators.LSHR, 16).and(1)).add(0x7FFF)
                        .lanewise(VectorOperators.LSHR, 16);
                VectorMask<Integer> nan = v.and(0x7FFFFFFF).compare(VectorOperators.GT, 0x7F800000);
                IntVector h = rounded.blend(v.lanewise(VectorOperators.LSHR, 16).or(0x40), nan);
                ((ShortVector) h.convertShape(VectorOperators.I2S, SHORTS, 0)).intoArray(out, to + k * step);
            }
        } else {
            throw new IllegalArgumentException(type + " is not a 16-bit type");
        }
    }
}
