package org.distillery.export;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@link Q6K}'s super-block across SIMD lanes, one lane per sub-block: the 16 sub-blocks' scale searches run side by
 * side (each candidate scale's sums across lanes, then the choice among candidates one sub-block at a time), each lane
 * doing exactly the float32 operations of the scalar {@code make_qx_quants} in the same order, so the
 * bytes are the same (as {@code GgmlBlocksTest} checks on random and edge blocks) for finite weights under about
 * 2.7e8, where the float16 super-scale overflows and ggml's own bytes mean nothing. Rounding is {@code (t + 1.5 * 2^23) -
 * 1.5 * 2^23}, which is ggml's {@code nearest_int} as a float for the magnitudes that arise (under 34), so no lane
 * converts between float and int. Loaded only where {@link Encoding#SIMD} holds and a vector has 8 or 16 float lanes.
 *
 * <p>Written so that C2 on Java 17 compiles every vector operation to SIMD whatever order it compiles methods in
 * (docs/findings.md, "The engine's lost third"; {@code VectorCompilationTest} checks it): straight vector code, no
 * branch where vectors meet, no vector crossing a call of ours. And a vector whose class C2 does not see where it
 * parses the code, one that a loop carries or that is live where an on-stack replacement enters a loop, is never the
 * receiver of a vector method, only its argument: the API checks an argument's class against the receiver's, which
 * tells C2 the class, while a receiver's call is bound through its type profile, which a method C2 compiles or
 * inlines before its profile is complete lacks. The call then stays a call, the vector runs the Java fallback, and
 * q6_k ran at 12 instead of 9.8 ns a value in some processes for one such blend. So a sum is written {@code
 * term.add(sum)}, a loop's vectors leave it through an addition of -0 (the identity for every float), and
 * loop-invariant vectors are loaded again in each iteration (no slower, measured).
 */
final class VectorQ6K {
    private static final VectorSpecies<Float> FLOATS = FloatVector.SPECIES_PREFERRED;
    private static final int LANES = FLOATS.length();
    /** Whether the 16 sub-blocks split into whole vectors. */
    static final boolean FITS = LANES == 8 || LANES == 16;
    private static final int SUB = Q6K.SUB; // values in a sub-block, and sub-blocks in a super-block
    private static final float MAGIC = 12582912f; // 1.5 * 2^23
    private static final float GROUP_MAX_EPS = Q6K.GROUP_MAX_EPS;
    /** The quants' bounds, as {@code make_qx_quants}' and {@code quantize_row_q6_K_ref}'s clamps. */
    private static final float LOWEST = -32f;
    private static final float HIGHEST = 31f;

    private VectorQ6K() {
    }

    /** One call's scratch: a super-block transposed (value i of sub-block s at {@code i * 16 + s}), and per lane. */
    private static final class Scratch {
        final float[] xt = new float[GgmlBlocks.QK_K];
        final float[] lt = new float[GgmlBlocks.QK_K];
        final byte[] l = new byte[GgmlBlocks.QK_K];
        final float[] scale = new float[SUB];
        final float[] win = new float[SUB];
        final float[] d = new float[SUB];
        final float[] amax = new float[SUB];
        final float[] max = new float[SUB];
        final float[] sumlx = new float[NUMERATORS.length * SUB];
        final float[] suml2 = new float[NUMERATORS.length * SUB];
        final float[] iscales = new float[NUMERATORS.length * SUB];
    }

    /** {@code blocks} super-blocks of the values at {@code bits[from]}, written from {@code out[at]}. */
    static void quantize(int[] bits, int from, int blocks, byte[] out, int at) {
        Scratch s = new Scratch();
        for (int b = 0; b < blocks; b++, from += GgmlBlocks.QK_K, at += GgmlBlocks.Q6_K.blockBytes) {
            block(s, bits, from, out, at);
        }
    }

    private static void block(Scratch s, int[] bits, int from, byte[] out, int at) {
        for (int sb = 0; sb < SUB; sb++) {
            for (int i = 0; i < SUB; i++) {
                s.xt[i * SUB + sb] = Float.intBitsToFloat(bits[from + SUB * sb + i]);
            }
        }
        for (int h = 0; h < SUB; h += LANES) {
            search(s, h);
            choose(s, h);
        }
        float dh = Q6K.superScale(s.scale, out, at);
        if (Float.isNaN(dh)) {
            return;
        }
        for (int ib = 0; ib < SUB; ib++) {
            s.d[ib] = dh * out[at + 192 + ib];
        }
        for (int h = 0; h < SUB; h += LANES) {
            requantize(s, h);
        }
        for (int sb = 0; sb < SUB; sb++) {
            for (int i = 0; i < SUB; i++) {
                s.l[SUB * sb + i] = (byte) s.lt[i * SUB + sb];
            }
        }
        Q6K.pack(s.l, out, at);
    }

    /**
     * The numerators of {@code make_qx_quants}' candidate inverse scales, in its order: {@code -nmax} first, then
     * {@code -(nmax + 0.1f * is)} for {@code is} from -9 to 9 but 0, the same float32 values as C's expressions.
     */
    private static final float[] NUMERATORS = numerators();

    private static float[] numerators() {
        float[] out = new float[19];
        out[0] = -32f;
        for (int is = -9, c = 1; is <= 9; is++) {
            if (is != 0) {
                out[c++] = -(32 + 0.1f * is);
            }
        }
        return out;
    }

    /**
     * The vector half of the scale search of the sub-blocks {@code [h, h + LANES)}: each lane's largest magnitude into
     * {@code amax} and the first value that has it into {@code max}, then each candidate's inverse scale and two sums,
     * lane by lane, into {@code iscales}, {@code sumlx} and {@code suml2}; each lane's sums run over its 16 values in
     * order, as the scalar loop's. Clamping before rounding is the same as after (the bounds are whole), and compares
     * with blends cost less than Java's max and min, which also order -0 and NaN. One method, too large for C2 to
     * inline into {@link #block} when hot (over 325 bytes of bytecode): compiled on its own, the quantizer ran at 9.6
     * ns a value, against 10.4 with the two halves as methods that C2 inlined.
     */
    private static void search(Scratch s, int h) {
        FloatVector amax = FloatVector.zero(FLOATS);
        FloatVector max = FloatVector.zero(FLOATS);
        for (int i = 0; i < SUB; i++) {
            FloatVector x = FloatVector.fromArray(FLOATS, s.xt, i * SUB + h);
            FloatVector ax = x.abs();
            VectorMask<Float> kept = ax.compare(VectorOperators.GT, amax).not();
            amax = ax.blend(amax, kept);
            max = x.blend(max, kept);
        }
        // The loop's vectors leave it as arguments, through -0 + v: see the class comment.
        FloatVector.broadcast(FLOATS, -0f).add(amax).intoArray(s.amax, h);
        FloatVector.broadcast(FLOATS, -0f).add(max).intoArray(s.max, h);
        for (int c = 0; c < NUMERATORS.length; c++) {
            FloatVector.broadcast(FLOATS, NUMERATORS[c]).div(FloatVector.fromArray(FLOATS, s.max, h))
                    .intoArray(s.iscales, c * SUB + h);
            FloatVector sumlx = FloatVector.zero(FLOATS);
            FloatVector suml2 = FloatVector.zero(FLOATS);
            for (int i = 0; i < SUB; i++) {
                // The same each time, loaded here rather than before the loop: see the class comment.
                FloatVector iscale = FloatVector.fromArray(FLOATS, s.iscales, c * SUB + h);
                FloatVector x = FloatVector.fromArray(FLOATS, s.xt, i * SUB + h);
                FloatVector t = iscale.mul(x); // MAX(-32, MIN(31, nearest_int(t))), as a float
                t = t.blend(LOWEST, t.compare(VectorOperators.LT, LOWEST))
                        .blend(HIGHEST, t.compare(VectorOperators.GT, HIGHEST));
                FloatVector q = t.add(MAGIC).sub(MAGIC);
                FloatVector w = x.mul(x);
                sumlx = w.mul(x).mul(q).add(sumlx);
                suml2 = w.mul(q).mul(q).add(suml2);
            }
            FloatVector.broadcast(FLOATS, -0f).add(sumlx).intoArray(s.sumlx, c * SUB + h);
            FloatVector.broadcast(FLOATS, -0f).add(suml2).intoArray(s.suml2, c * SUB + h);
        }
    }

    /**
     * The rest of the search, one sub-block at a time: the choice among the candidates in {@code make_qx_quants}'
     * order, its return into {@code scale} (0 for an all-zero sub-block) and the {@code iscale} its quants come from
     * into {@code win}.
     */
    private static void choose(Scratch s, int h) {
        for (int sb = h; sb < h + LANES; sb++) {
            float lx = s.sumlx[sb];
            float l2 = s.suml2[sb];
            float scale = l2 != 0 ? lx / l2 : 0f;
            float best = scale * lx;
            int win = 0;
            for (int c = 1; c < NUMERATORS.length; c++) {
                lx = s.sumlx[c * SUB + sb];
                l2 = s.suml2[c * SUB + sb];
                if (l2 > 0 && lx * lx > best * l2) {
                    scale = lx / l2;
                    best = scale * lx;
                    win = c;
                }
            }
            s.scale[sb] = s.amax[sb] < GROUP_MAX_EPS ? 0f : scale;
            s.win[sb] = s.iscales[win * SUB + sb];
        }
    }

    /**
     * The quants (0..63) of the sub-blocks {@code [h, h + LANES)} into {@code lt}: against the stored scale where it is
     * not 0, else the search's own (all 0 for an all-zero sub-block), as {@code quantize_row_q6_K_ref} leaves them.
     */
    private static void requantize(Scratch s, int h) {
        for (int i = 0; i < SUB; i++) {
            // The same each time, loaded here rather than before the loop: see the class comment.
            FloatVector d = FloatVector.fromArray(FLOATS, s.d, h);
            FloatVector win = FloatVector.fromArray(FLOATS, s.win, h);
            FloatVector amax = FloatVector.fromArray(FLOATS, s.amax, h);
            FloatVector x = FloatVector.fromArray(FLOATS, s.xt, i * SUB + h);
            FloatVector q = x.div(d).add(MAGIC).sub(MAGIC)
                    .blend(win.mul(x).add(MAGIC).sub(MAGIC), d.compare(VectorOperators.EQ, 0f));
            q = q.blend(LOWEST, q.compare(VectorOperators.LT, LOWEST))
                    .blend(HIGHEST, q.compare(VectorOperators.GT, HIGHEST)).add(32f);
            q.blend(0f, amax.compare(VectorOperators.LT, GROUP_MAX_EPS)).intoArray(s.lt, i * SUB + h);
        }
    }
}
