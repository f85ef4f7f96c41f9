package org.distillery.export;

import java.nio.ByteBuffer;
import org.distillery.core.io.Float16;

/**
 * ggml's {@code Q6_K} super-block of 256 values, 210 bytes: {@code ql[128]}, {@code qh[64]}, {@code scales[16]}
 * (int8) and {@code d} (float16). Ported from {@code quantize_row_q6_K_ref} and {@code make_qx_quants} in
 * {@code ggml-quants.c} operation for operation, in float32, so the bytes equal llama.cpp's quantizer's: every
 * product, sum and division is in C's order (Java's float arithmetic is IEEE's, as ggml-base's without FMA).
 */
final class Q6K {
    static final int SUB = 16;
    static final float GROUP_MAX_EPS = 1e-15f;

    private Q6K() {
    }

    /** ggml's {@code nearest_int}: round half to even through the float 1.5 * 2^23, exactly as C computes it. */
    static int nearestInt(float v) {
        return (Float.floatToRawIntBits(v + 12582912f) & 0x007fffff) - 0x00400000;
    }

    /** Quantizes {@code blocks} super-blocks of {@code bits} (float32 bit patterns) from {@code from} to {@code out[at]}. */
    static void quantize(int[] bits, int from, int blocks, byte[] out, int at) {
        Search s = new Search();
        for (int b = 0; b < blocks; b++, from += GgmlBlocks.QK_K, at += GgmlBlocks.Q6_K.blockBytes) {
            quantize(s, bits, from, out, at);
        }
    }

    /** One call's scratch: a super-block's values, quants, sub-block scales and search weights. */
    private static final class Search {
        final float[] x = new float[GgmlBlocks.QK_K];
        final byte[] l = new byte[GgmlBlocks.QK_K];
        final float[] scales = new float[GgmlBlocks.QK_K / SUB];
        final float[] w = new float[SUB];
        final float[] wx = new float[SUB];
    }

    private static void quantize(Search s, int[] bits, int from, byte[] out, int at) {
        float[] x = s.x;
        for (int i = 0; i < x.length; i++) {
            x[i] = Float.intBitsToFloat(bits[from + i]);
        }
        byte[] l = s.l;
        float[] scales = s.scales;
        for (int ib = 0; ib < scales.length; ib++) {
            scales[ib] = makeQxQuants(s, SUB * ib);
        }
        float dh = superScale(scales, out, at);
        if (Float.isNaN(dh)) {
            return;
        }
        for (int j = 0; j < scales.length; j++) {
            float d = dh * out[at + 192 + j];
            if (d == 0) {
                continue; // its quants stay make_qx_quants' own
            }
            for (int ii = 0; ii < SUB; ii++) {
                int q = nearestInt(x[SUB * j + ii] / d);
                q = Math.max(-32, Math.min(31, q));
                l[SUB * j + ii] = (byte) (q + 32);
            }
        }
        pack(l, out, at);
    }

    /**
     * The block's scales from its 16 sub-blocks' {@code scales} (make_qx_quants' returns): zeroes the block at {@code
     * out[at]}, then writes its float16 super-scale {@code d} (the largest-magnitude scale over -128) and each
     * sub-block's scale as an int8 against it. Returns {@code d} as stored, or NaN when every scale is under ggml's
     * epsilon and the block is all zero bytes, done.
     */
    static float superScale(float[] scales, byte[] out, int at) {
        float maxScale = 0;
        float maxAbsScale = 0;
        for (float scale : scales) {
            float abs = Math.abs(scale);
            if (abs > maxAbsScale) {
                maxAbsScale = abs;
                maxScale = scale;
            }
        }
        java.util.Arrays.fill(out, at, at + GgmlBlocks.Q6_K.blockBytes, (byte) 0);
        if (maxAbsScale < GROUP_MAX_EPS) {
            return Float.NaN; // all zero, d = +0 too
        }
        float iscale = -128f / maxScale;
        GgmlBlocks.scale(1 / iscale, out, at + 208);
        for (int ib = 0; ib < scales.length; ib++) {
            out[at + 192 + ib] = (byte) Math.min(127, nearestInt(iscale * scales[ib]));
        }
        return Float16.toFloat((short) (out[at + 208] & 0xFF | out[at + 209] << 8));
    }

    /** The quants {@code l} (0..63) into the block at {@code out[at]}: low 4 bits in {@code ql}, high 2 in {@code qh}. */
    static void pack(byte[] l, byte[] out, int at) {
        for (int j = 0, ql = at, qh = at + 128; j < GgmlBlocks.QK_K; j += 128, ql += 64, qh += 32) {
            for (int k = 0; k < 32; k++) {
                int q1 = l[j + k] & 0xF;
                int q2 = l[j + k + 32] & 0xF;
                int q3 = l[j + k + 64] & 0xF;
                int q4 = l[j + k + 96] & 0xF;
                out[ql + k] = (byte) (q1 | q3 << 4);
                out[ql + k + 32] = (byte) (q2 | q4 << 4);
                out[qh + k] = (byte) (l[j + k] >> 4 | (l[j + k + 32] >> 4) << 2 | (l[j + k + 64] >> 4) << 4
                        | (l[j + k + 96] >> 4) << 6);
            }
        }
    }

    /**
     * {@code make_qx_quants(16, 32, x, L, rmse_type 1, NULL)}: the scale of one sub-block of 16 values that minimizes
     * the x²-weighted squared error, searched over 19 candidates around {@code max / -32}; its quants (0..63) into
     * {@code l[from, from + 16)}. The weights {@code w = x * x} and {@code w * x} are the products ggml forms first in
     * {@code w*x[i]*l} and {@code w*l*l}, so computing them once changes no bit.
     */
    private static float makeQxQuants(Search s, int from) {
        final int nmax = 32;
        float[] x = s.x;
        byte[] l = s.l;
        float[] w = s.w;
        float[] wx = s.wx;
        float max = 0;
        float amax = 0;
        for (int i = from; i < from + SUB; i++) {
            float ax = Math.abs(x[i]);
            if (ax > amax) {
                amax = ax;
                max = x[i];
            }
        }
        if (amax < GROUP_MAX_EPS) {
            java.util.Arrays.fill(l, from, from + SUB, (byte) 0);
            return 0f;
        }
        for (int i = 0; i < SUB; i++) {
            w[i] = x[from + i] * x[from + i];
            wx[i] = w[i] * x[from + i];
        }
        float iscale = -nmax / max;
        float sumlx = 0;
        float suml2 = 0;
        for (int i = 0; i < SUB; i++) {
            int q = Math.max(-nmax, Math.min(nmax - 1, nearestInt(iscale * x[from + i])));
            l[from + i] = (byte) (q + nmax);
            sumlx += wx[i] * q;
            suml2 += w[i] * q * q;
        }
        float scale = suml2 != 0 ? sumlx / suml2 : 0.0f;
        float best = scale * sumlx;
        for (int is = -9; is <= 9; is++) {
            if (is == 0) {
                continue;
            }
            iscale = -(nmax + 0.1f * is) / max;
            sumlx = 0;
            suml2 = 0;
            for (int i = 0; i < SUB; i++) {
                int q = Math.max(-nmax, Math.min(nmax - 1, nearestInt(iscale * x[from + i])));
                sumlx += wx[i] * q;
                suml2 += w[i] * q * q;
            }
            if (suml2 > 0 && sumlx * sumlx > best * suml2) {
                for (int i = 0; i < SUB; i++) {
                    l[from + i] = (byte) (nmax + Math.max(-nmax, Math.min(nmax - 1, nearestInt(iscale * x[from + i]))));
                }
                scale = sumlx / suml2;
                best = scale * sumlx;
            }
        }
        return scale;
    }

    /** Reads one block at {@code in}'s position into {@code y[to, to + 256)}: ggml's {@code dequantize_row_q6_K}. */
    static void dequantize(ByteBuffer in, float[] y, int to) {
        int base = in.position();
        float d = Float16.toFloat(in.getShort(base + 208));
        for (int n = 0, ql = base, qh = base + 128, sc = base + 192; n < GgmlBlocks.QK_K;
             n += 128, ql += 64, qh += 32, sc += 8) {
            for (int k = 0; k < 32; k++) {
                int is = k / 16;
                int h = in.get(qh + k) & 0xFF;
                int lo = in.get(ql + k) & 0xFF;
                int hi = in.get(ql + k + 32) & 0xFF;
                int q1 = (lo & 0xF | (h & 3) << 4) - 32;
                int q2 = (hi & 0xF | (h >> 2 & 3) << 4) - 32;
                int q3 = (lo >> 4 | (h >> 4 & 3) << 4) - 32;
                int q4 = (hi >> 4 | (h >> 6 & 3) << 4) - 32;
                y[to + n + k] = d * in.get(sc + is) * q1;
                y[to + n + k + 32] = d * in.get(sc + is + 2) * q2;
                y[to + n + k + 64] = d * in.get(sc + is + 4) * q3;
                y[to + n + k + 96] = d * in.get(sc + is + 6) * q4;
            }
        }
        in.position(base + GgmlBlocks.Q6_K.blockBytes);
    }
}
