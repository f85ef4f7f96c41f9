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
 * 0.5 against 3.4 ns a value for Q8_0 and 0.9 against 2.8 for Q4_0 on AVX-512 (Java 17); 0.66 and 0.77 on AVX2.
 *
 * <p>Written so that C2 on Java 17 compiles every vector operation to SIMD (docs/findings.md, "The engine's lost
 * third"; {@code VectorCompilationTest} checks it): no method here takes or returns a vector, since one crossing a
 * call C2 did not inline is boxed and runs the API's Java fallback; a vector a loop carries is the argument of a
 * vector method, never its receiver, and leaves the loop through an addition of 0 ({@link VectorQ6K} says why); no
 * float-to-int lane conversion (Java 17 does not compile it on AVX2: 5 ns a value, slower than the scalar loop), so
 * the roundings stay in float and int bit arithmetic; and every reinterpretation names its species.
 */
final class VectorBlocks {
    private static final VectorSpecies<Integer> INTS = IntVector.SPECIES_PREFERRED;
    /**
     * The float lanes of {@link #INTS}' shape, for reinterpretations ({@code reinterpretAsFloats()} looks the species
     * up at run time, which C2 does not always fold into a constant).
     */
    private static final VectorSpecies<Float> FLOATS = FloatVector.SPECIES_PREFERRED;
    private static final int LANES = INTS.length();
    /** Whether blocks of 32 split into whole vectors with a byte species a quarter as wide. */
    static final boolean FITS = LANES >= 8 && GgmlBlocks.QK % LANES == 0;
    private static final VectorSpecies<Byte> BYTES = FITS
            ? VectorSpecies.of(byte.class, VectorShape.forBitSize(INTS.vectorBitSize() / 4)) : null;

    private static final float MAGIC = 12582912f; // 1.5 * 2^23
    private static final int MAGIC_BITS = Float.floatToRawIntBits(MAGIC);
    private static final int HALF_BITS = Float.floatToRawIntBits(0.5f);

    private VectorBlocks() {
    }

    /** The bits of the largest magnitude of the block at {@code from}: as ints, non-negative floats order as their bits. */
    private static int amax(int[] bits, int from) {
        IntVector m = IntVector.fromArray(INTS, bits, from).and(0x7FFFFFFF);
        for (int k = LANES; k < GgmlBlocks.QK; k += LANES) {
            m = IntVector.fromArray(INTS, bits, from + k).and(0x7FFFFFFF).max(m);
        }
        return IntVector.zero(INTS).add(m).reduceLanes(VectorOperators.MAX); // 0 + m: see the class comment
    }

    /**
     * {@code blocks} Q8_0 blocks of the values at {@code bits[from]}, written from {@code out[at]}. Each quant is C's
     * {@code roundf} of {@code x * id} (|x * id| at most 127): adding 1.5 * 2^23 rounds to the nearest integer, ties to
     * even, into the low bits of the sum; where that tie went toward zero (the exact remainder is a half of the
     * value's sign), one more step away from zero.
     */
    static void q8(int[] bits, int from, int blocks, byte[] out, int at) {
        for (int b = 0; b < blocks; b++, from += GgmlBlocks.QK, at += GgmlBlocks.Q8_0.blockBytes) {
            float d = Float.intBitsToFloat(amax(bits, from)) / 127;
            float id = d != 0f ? 1.0f / d : 0.0f;
            GgmlBlocks.scale(d, out, at);
            for (int k = 0; k < GgmlBlocks.QK; k += LANES) {
                FloatVector v = ((FloatVector) IntVector.fromArray(INTS, bits, from + k).reinterpretShape(FLOATS, 0))
                        .mul(id);
                FloatVector s = v.add(MAGIC);
                IntVector q = ((IntVector) s.reinterpretShape(INTS, 0)).sub(MAGIC_BITS);
                IntVector vb = (IntVector) v.reinterpretShape(INTS, 0);
                IntVector rest = (IntVector) v.sub(s.sub(MAGIC)).reinterpretShape(INTS, 0);
                VectorMask<Integer> towardZero = rest.lanewise(VectorOperators.XOR, vb.and(0x80000000))
                        .compare(VectorOperators.EQ, HALF_BITS);
                q = q.blend(q.add(vb.lanewise(VectorOperators.ASHR, 31).or(1)), towardZero);
                ((ByteVector) q.convertShape(VectorOperators.I2B, BYTES, 0)).intoArray(out, at + 2 + k);
            }
        }
    }

    /**
     * {@code blocks} Q4_0 blocks of the values at {@code bits[from]}, written from {@code out[at]}. Each quant is
     * {@code min(15, (int) (x * id + 8.5f))}: the sum is in [0.5, 16.5], whose truncation is its mantissa (with the
     * implicit bit) shifted right by 150 minus its exponent field, 19 to 24 places.
     */
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
            // Byte j holds value j's quant in its low nibble and value j + 16's in its high one. The quant's code is
            // written once, for a loop over the two: written out for each, q4 outgrew C2's node budget, past which
            // even the API's own methods are inlined late and their results lose their class (docs/findings.md).
            for (int j = 0; j < half; j += LANES) {
                IntVector packed = IntVector.zero(INTS);
                for (int high = 0; high < 2; high++) {
                    IntVector w = (IntVector) ((FloatVector) IntVector.fromArray(INTS, bits, from + high * half + j)
                            .reinterpretShape(FLOATS, 0)).mul(id).add(8.5f).reinterpretShape(INTS, 0);
                    IntVector shift = w.lanewise(VectorOperators.LSHR, 23).neg().add(150);
                    IntVector quant = w.and(0x7FFFFF).or(0x800000).lanewise(VectorOperators.LSHR, shift).min(15);
                    packed = quant.lanewise(VectorOperators.LSHL, 4 * high).or(packed);
                }
                ((ByteVector) IntVector.zero(INTS).add(packed).convertShape(VectorOperators.I2B, BYTES, 0))
                        .intoArray(out, at + 2 + j);
            }
        }
    }
}
