package org.distillery.export;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@link GgmlBlocks}' quantizers across SIMD lanes, loaded only when {@link Encoding#SIMD} holds and a vector has at
 * least 8 float lanes (a byte vector of a quarter of its width must exist). The same bytes as the scalar quantizers
 * for finite weights, as {@code GgmlBlocksTest} checks: the products are the same float32 operations lane by lane,
 * {@code roundf} is the truncation plus one step away from zero where the (exact) remainder's magnitude is at least a
 * half, and Q4_0's signed maximum is the first lane whose magnitude is the block's largest, as the scalar loop keeps
 * it. Two kinds of block may differ, both meaningless in either: one holding a NaN, and one whose largest magnitude is
 * below about 4e-37, where the scale's reciprocal overflows (its float16 scale is 0, so it reads back as zeros).
 * 0.5 against 3.4 ns a value for Q8_0 and 0.9 against 2.8 for Q4_0 here (AVX-512, Java 17).
 */
final class VectorBlocks {
    private static final VectorSpecies<Integer> INTS = IntVector.SPECIES_PREFERRED;
    private static final int LANES = INTS.length();
    /** Whether blocks of 32 split into whole vectors with a byte species a quarter as wide. */
    static final boolean FITS = LANES >= 8 && GgmlBlocks.QK % LANES == 0;
    private static final VectorSpecies<Byte> BYTES = FITS
            ? VectorSpecies.of(byte.class, VectorShape.forBitSize(INTS.vectorBitSize() / 4)) : null;

    private static final float MAGIC = 12582912f; // 1.5 * 2^23
    private static final int MAGIC_BITS = Float.floatToRawIntBits(MAGIC);
    private static final IntVector SHIFT_BASE = IntVector.broadcast(INTS, 150);

    private VectorBlocks() {
    }

    /** The bits of the largest magnitude of the block at {@code from}: as ints, non-negative floats order as their bits. */
    private static int amax(int[] bits, int from) {
        IntVector m = IntVector.fromArray(INTS, bits, from).and(0x7FFFFFFF);
        for (int k = LANES; k < GgmlBlocks.QK; k += LANES) {
            m = m.max(IntVector.fromArray(INTS, bits, from + k).and(0x7FFFFFFF));
        }
        return m.reduceLanes(VectorOperators.MAX);
    }

    /** {@code blocks} Q8_0 blocks of the values at {@code bits[from]}, written from {@code out[at]}. */
    static void q8(int[] bits, int from, int blocks, byte[] out, int at) {
        for (int b = 0; b < blocks; b++, from += GgmlBlocks.QK, at += GgmlBlocks.Q8_0.blockBytes) {
            float d = Float.intBitsToFloat(amax(bits, from)) / 127;
            float id = d != 0f ? 1.0f / d : 0.0f;
            GgmlBlocks.scale(d, out, at);
            for (int k = 0; k < GgmlBlocks.QK; k += LANES) {
                IntVector q = roundf(IntVector.fromArray(INTS, bits, from + k).reinterpretAsFloats().mul(id));
                ((ByteVector) q.convertShape(VectorOperators.I2B, BYTES, 0)).intoArray(out, at + 2 + k);
            }
        }
    }

    /** {@code blocks} Q4_0 blocks of the values at {@code bits[from]}, written from {@code out[at]}. */
    static void q4(int[] bits, int from, int blocks, byte[] out, int at) {
        int half = GgmlBlocks.QK / 2;
        for (int b = 0; b < blocks; b++, from += GgmlBlocks.QK, at += GgmlBlocks.Q4_0.blockBytes) {
            int amax = amax(bits, from);
            float max = 0f; // all zeros: +0 as the scalar loop leaves it, so d is -0 there too
            for (int k = 0; amax != 0 && k < GgmlBlocks.QK; k += LANES) {
                VectorMask<Integer> first = IntVector.fromArray(INTS, bits, from + k).and(0x7FFFFFFF)
                        .compare(VectorOperators.EQ, amax);
                if (first.anyTrue()) {
                    max = Float.intBitsToFloat(bits[from + k + first.firstTrue()]);
                    break;
                }
            }
            float d = max / -8;
            float id = d != 0f ? 1.0f / d : 0.0f;
            GgmlBlocks.scale(d, out, at);
            for (int j = 0; j < half; j += LANES) {
                IntVector lo = nibble(IntVector.fromArray(INTS, bits, from + j), id);
                IntVector hi = nibble(IntVector.fromArray(INTS, bits, from + half + j), id);
                ((ByteVector) lo.or(hi.lanewise(VectorOperators.LSHL, 4)).convertShape(VectorOperators.I2B, BYTES, 0))
                        .intoArray(out, at + 2 + j);
            }
        }
    }

    /*
     * Java 17's float-to-int lane conversion is not compiled to an instruction (5 ns a value, slower than the scalar
     * loop), so both roundings below stay in float and int bit arithmetic.
     */

    /**
     * C's {@code roundf} of each lane (|v| below 2^22): adding 1.5 * 2^23 rounds to the nearest integer, ties to even,
     * into the low bits of the sum; where that tie went toward zero (the exact remainder is a half of v's sign), one
     * more step away from zero.
     */
    private static IntVector roundf(FloatVector v) {
        FloatVector s = v.add(MAGIC);
        IntVector q = s.reinterpretAsInts().sub(MAGIC_BITS);
        IntVector rest = v.sub(s.sub(MAGIC)).reinterpretAsInts();
        IntVector vb = v.reinterpretAsInts();
        VectorMask<Integer> towardZero = rest.lanewise(VectorOperators.XOR, vb.and(0x80000000))
                .compare(VectorOperators.EQ, Float.floatToRawIntBits(0.5f));
        return q.blend(q.add(vb.lanewise(VectorOperators.ASHR, 31).or(1)), towardZero);
    }

    /**
     * {@code min(15, (int) (x * id + 8.5f))} of each lane: the sum is in [0.5, 16.5], whose truncation is its
     * mantissa (with the implicit bit) shifted right by 150 minus its exponent field, 19 to 24 places.
     */
    private static IntVector nibble(IntVector x, float id) {
        IntVector w = x.reinterpretAsFloats().mul(id).add(8.5f).reinterpretAsInts();
        IntVector mantissa = w.and(0x7FFFFF).or(0x800000);
        return mantissa.lanewise(VectorOperators.LSHR, SHIFT_BASE.sub(w.lanewise(VectorOperators.LSHR, 23))).min(15);
    }
}
