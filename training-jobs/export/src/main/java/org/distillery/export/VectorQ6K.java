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
 */
final class VectorQ6K {
    private static final VectorSpecies<Float> FLOATS = FloatVector.SPECIES_PREFERRED;
    private static final int LANES = FLOATS.length();
    /** Whether the 16 sub-blocks split into whole vectors. */
    static final boolean FITS = LANES == 8 || LANES == 16;
    private static final int SUB = Q6K.SUB; // values in a sub-block, and sub-blocks in a super-block
    private static final float MAGIC = 12582912f; // 1.5 * 2^23
    private static final float GROUP_MAX_EPS = Q6K.GROUP_MAX_EPS;
    private static final FloatVector MAGICS = FloatVector.broadcast(FLOATS, MAGIC);
    private static final FloatVector LOWEST = FloatVector.broadcast(FLOATS, -32f);
    private static final FloatVector HIGHEST = FloatVector.broadcast(FLOATS, 31f);

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
     * The scale search of the sub-blocks {@code [h, h + LANES)}: each lane's {@code make_qx_quants} return into {@code
     * scale} (0 for an all-zero sub-block), the {@code iscale} its quants come from into {@code win}, and its largest
     * magnitude into {@code amax}. Each lane's sums run over its 16 values in order, as the scalar loop's.
     */
    private static void search(Scratch s, int h) {
        FloatVector amax = FloatVector.zero(FLOATS);
        FloatVector max = FloatVector.zero(FLOATS);
        for (int i = 0; i < SUB; i++) {
            FloatVector x = FloatVector.fromArray(FLOATS, s.xt, i * SUB + h);
            FloatVector ax = x.abs();
            VectorMask<Float> larger = ax.compare(VectorOperators.GT, amax);
            amax = amax.blend(ax, larger);
            max = max.blend(x, larger);
        }
        // Each candidate's two sums, lane by lane, go to memory, and the choice among the 19 is made after, one
        // sub-block at a time, in make_qx_quants' order. Vectors that meet at a branch, that a loop carries, or that
        // cross a call the JIT does not inline, it may box, and then their stores fall back to a lane-by-lane loop
        // (5 times slower): the vector code is straight. Clamping before rounding is the same as after (the bounds
        // are whole), and compares with blends cost less than Java's max and min, which also order -0 and NaN.
        for (int c = 0; c < NUMERATORS.length; c++) {
            FloatVector iscale = FloatVector.broadcast(FLOATS, NUMERATORS[c]).div(max);
            FloatVector sumlx = FloatVector.zero(FLOATS);
            FloatVector suml2 = FloatVector.zero(FLOATS);
            for (int i = 0; i < SUB; i++) {
                FloatVector x = FloatVector.fromArray(FLOATS, s.xt, i * SUB + h);
                FloatVector t = iscale.mul(x); // MAX(-32, MIN(31, nearest_int(t))), as a float
                t = t.blend(LOWEST, t.compare(VectorOperators.LT, LOWEST))
                        .blend(HIGHEST, t.compare(VectorOperators.GT, HIGHEST));
                FloatVector q = t.add(MAGICS).sub(MAGICS);
                FloatVector w = x.mul(x);
                sumlx = sumlx.add(w.mul(x).mul(q));
                suml2 = suml2.add(w.mul(q).mul(q));
            }
            sumlx.intoArray(s.sumlx, c * SUB + h);
            suml2.intoArray(s.suml2, c * SUB + h);
            iscale.intoArray(s.iscales, c * SUB + h);
        }
        amax.intoArray(s.amax, h);
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
        FloatVector d = FloatVector.fromArray(FLOATS, s.d, h);
        FloatVector win = FloatVector.fromArray(FLOATS, s.win, h);
        VectorMask<Float> searched = d.compare(VectorOperators.EQ, 0f);
        VectorMask<Float> zero = FloatVector.fromArray(FLOATS, s.amax, h).compare(VectorOperators.LT, GROUP_MAX_EPS);
        for (int i = 0; i < SUB; i++) {
            FloatVector x = FloatVector.fromArray(FLOATS, s.xt, i * SUB + h);
            FloatVector q = x.div(d).add(MAGICS).sub(MAGICS).blend(win.mul(x).add(MAGICS).sub(MAGICS), searched);
            q = q.blend(LOWEST, q.compare(VectorOperators.LT, LOWEST))
                    .blend(HIGHEST, q.compare(VectorOperators.GT, HIGHEST)).add(32f);
            q.blend(0f, zero).intoArray(s.lt, i * SUB + h);
        }
    }
}
