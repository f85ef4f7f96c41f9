package org.distillery.export;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@link Q6K}'s super-block across SIMD lanes, one lane per sub-block: the 16 sub-blocks' scale searches run side by
 * side, each lane doing exactly the float32 operations of the scalar {@code make_qx_quants} in the same order, so the
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
    private static final int SUB = 16; // values in a sub-block, and sub-blocks in a super-block
    private static final float MAGIC = 12582912f; // 1.5 * 2^23
    private static final float GROUP_MAX_EPS = 1e-15f;

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
        float maxScale = 0;
        float maxAbsScale = 0;
        for (int ib = 0; ib < SUB; ib++) {
            float abs = Math.abs(s.scale[ib]);
            if (abs > maxAbsScale) {
                maxAbsScale = abs;
                maxScale = s.scale[ib];
            }
        }
        java.util.Arrays.fill(out, at, at + GgmlBlocks.Q6_K.blockBytes, (byte) 0);
        if (maxAbsScale < GROUP_MAX_EPS) {
            return;
        }
        float iscale = -128f / maxScale;
        GgmlBlocks.scale(1 / iscale, out, at + 208);
        float dh = org.distillery.core.io.Float16.toFloat((short) (out[at + 208] & 0xFF | out[at + 209] << 8));
        for (int ib = 0; ib < SUB; ib++) {
            out[at + 192 + ib] = (byte) Math.min(127, Q6K.nearestInt(iscale * s.scale[ib]));
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
     * The scale search of the sub-blocks {@code [h, h + LANES)}: each lane's {@code make_qx_quants} return into {@code
     * scale} (0 for an all-zero sub-block) and the {@code iscale} its quants come from into {@code win}.
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
        FloatVector iscale = FloatVector.broadcast(FLOATS, -32f).div(max);
        FloatVector[] sums = sums(s, h, iscale);
        FloatVector scale = sums[0].div(sums[1]).blend(0f, sums[1].compare(VectorOperators.EQ, 0f));
        FloatVector best = scale.mul(sums[0]);
        FloatVector win = iscale;
        for (int is = -9; is <= 9; is++) {
            if (is == 0) {
                continue;
            }
            FloatVector candidate = FloatVector.broadcast(FLOATS, -(32 + 0.1f * is)).div(max);
            FloatVector[] c = sums(s, h, candidate);
            VectorMask<Float> better = c[1].compare(VectorOperators.GT, 0f)
                    .and(c[0].mul(c[0]).compare(VectorOperators.GT, best.mul(c[1])));
            scale = scale.blend(c[0].div(c[1]), better);
            best = best.blend(scale.mul(c[0]), better);
            win = win.blend(candidate, better);
        }
        scale.blend(0f, amax.compare(VectorOperators.LT, GROUP_MAX_EPS)).intoArray(s.scale, h);
        win.intoArray(s.win, h);
        amax.intoArray(s.amax, h);
    }

    /** {@code sumlx} and {@code suml2} of the quants {@code iscale} gives, each lane summed in the scalar order. */
    private static FloatVector[] sums(Scratch s, int h, FloatVector iscale) {
        FloatVector sumlx = FloatVector.zero(FLOATS);
        FloatVector suml2 = FloatVector.zero(FLOATS);
        for (int i = 0; i < SUB; i++) {
            FloatVector x = FloatVector.fromArray(FLOATS, s.xt, i * SUB + h);
            FloatVector q = round(iscale.mul(x)).max(-32f).min(31f);
            FloatVector w = x.mul(x);
            sumlx = sumlx.add(w.mul(x).mul(q));
            suml2 = suml2.add(w.mul(q).mul(q));
        }
        return new FloatVector[] {sumlx, suml2};
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
            FloatVector q = round(x.div(d)).blend(round(win.mul(x)), searched).max(-32f).min(31f).add(32f);
            q.blend(0f, zero).intoArray(s.lt, i * SUB + h);
        }
    }

    /** ggml's {@code nearest_int}, as a float: exact for magnitudes under 2^22. */
    private static FloatVector round(FloatVector t) {
        return t.add(MAGIC).sub(MAGIC);
    }
}
