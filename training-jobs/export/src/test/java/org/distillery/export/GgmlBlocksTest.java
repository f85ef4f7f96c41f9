package org.distillery.export;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The SIMD quantizers (q6_k's too) give the scalar ones' bytes ({@code GgufQuantTest} checks the scalar ones against ggml's C and
 * llama.cpp's quantizer): roundf over every float32 in [0.25, 127] of either sign, and whole blocks over random
 * weights of every scale and the cases a lane-wise search could get wrong (ties of +m and -m, all zeros, -0).
 */
@Tag("numerical")
class GgmlBlocksTest {
    @Test
    void theSimdQuantizersAreTheOnesTested() {
        // Wherever the lanes fit them, the SIMD quantizers are the ones tested; at 4 lanes (the vector-width pass
        // at 128 bits) the scalar ones are, against the same expectations.
        int lanes = jdk.incubator.vector.FloatVector.SPECIES_PREFERRED.length();
        assertTrue(Encoding.SIMD, "tests run with the Vector API");
        assertEquals(lanes >= 8, GgmlBlocks.SIMD, "SIMD block quantizers with " + lanes + " float lanes");
        assertEquals(lanes == 8 || lanes == 16, GgmlBlocks.SIMD_K, "SIMD k-quants with " + lanes + " float lanes");
    }

    /** A block led by 127 has the scale 1, so its quants are roundf of the other 31 values. */
    @Test
    void q8RoundsEveryFloatAsTheScalarLoop() {
        int per = GgmlBlocks.QK - 1;
        int blocks = 1 << 14;
        int[] bits = new int[blocks * GgmlBlocks.QK];
        for (int sign = 0; sign < 2; sign++) {
            int from = Float.floatToRawIntBits(0.25f);
            int to = Float.floatToRawIntBits(127f);
            int next = from;
            while (next <= to) {
                int n = 0;
                for (int b = 0; b < blocks && next <= to; b++) {
                    bits[b * GgmlBlocks.QK] = Float.floatToRawIntBits(127f);
                    for (int j = 1; j <= per; j++) {
                        bits[b * GgmlBlocks.QK + j] = (Math.min(next, to)) | sign << 31;
                        next++;
                    }
                    n++;
                }
                same(GgmlBlocks.Q8_0, bits, n * GgmlBlocks.QK);
            }
        }
    }

    @Test
    void blocksOfRandomWeightsAtEveryScale() {
        SplittableRandom r = new SplittableRandom(7);
        int blocks = 4096;
        int[] bits = new int[blocks * GgmlBlocks.QK];
        for (int round = 0; round < 50; round++) {
            for (int b = 0; b < blocks; b++) {
                double scale = Math.pow(10, r.nextDouble(-30, 30));
                for (int j = 0; j < GgmlBlocks.QK; j++) {
                    bits[b * GgmlBlocks.QK + j] = Float.floatToRawIntBits((float) (r.nextGaussian() * scale));
                }
            }
            same(GgmlBlocks.Q8_0, bits, bits.length);
            same(GgmlBlocks.Q4_0, bits, bits.length);
        }
    }

    /**
     * As above for q6_k, whose float16 super-scale holds weights up to about 2.7e8 (beyond, ggml's own bytes are
     * meaningless: an infinite scale): every 32 values of a super-block at their own scale in [1e-20, 1e7].
     */
    @Test
    void superBlocksOfRandomWeightsAtEveryScale() {
        SplittableRandom r = new SplittableRandom(8);
        int[] bits = new int[512 * GgmlBlocks.QK_K];
        for (int round = 0; round < 20; round++) {
            for (int b = 0; b < bits.length / GgmlBlocks.QK; b++) {
                double scale = Math.pow(10, r.nextDouble(-20, 7));
                for (int j = 0; j < GgmlBlocks.QK; j++) {
                    bits[b * GgmlBlocks.QK + j] = Float.floatToRawIntBits((float) (r.nextGaussian() * scale));
                }
            }
            same(GgmlBlocks.Q6_K, bits, bits.length);
        }
    }

    /**
     * Super-blocks whose sub-blocks' searches differ lane by lane: all zero, under ggml's epsilon, -0, one so small
     * that its sum of x² * x * q underflows, an outlier, a float16 super-scale that underflows, sub-blocks of ranges
     * 10^-16 to 10^6.5, and exact ties in the rounding.
     */
    @Test
    void edgeSuperBlocks() {
        SplittableRandom r = new SplittableRandom(9);
        int n = GgmlBlocks.QK_K;
        float[][] cases = new float[8][n];
        for (int i = 0; i < n; i++) {
            int sub = i / 16;
            double g = r.nextGaussian();
            cases[1][i] = sub == 0 ? 0f : sub == 1 ? 1e-16f : sub == 2 ? -0.0f : sub == 3 ? (float) (g * 1e-15)
                    : (float) g;
            cases[2][i] = i == 77 ? 1000f : (float) g;
            cases[3][i] = (float) (g * 1e-9);
            cases[4][i] = (float) (g * Math.pow(10, sub * 1.5 - 16));
            cases[5][i] = (i % 16 - 8) * 0.5f; // halves land on ties
            cases[6][i] = sub % 2 == 0 ? 0f : (float) g;
            cases[7][i] = (float) (g * 1e-13);
        }
        for (float[] x : cases) {
            int[] bits = new int[n];
            for (int j = 0; j < n; j++) {
                bits[j] = Float.floatToRawIntBits(x[j]);
            }
            same(GgmlBlocks.Q6_K, bits, n);
        }
    }

    @Test
    void edgeBlocks() {
        float[][] cases = new float[7][GgmlBlocks.QK];
        Arrays.fill(cases[1], -0.0f);
        for (int j = 0; j < GgmlBlocks.QK; j++) {
            cases[2][j] = (j % 3 - 1) * 0.75f; // +m and -m tie for the largest: the first, -m, is Q4_0's max
            cases[3][j] = j == 20 ? 3f : j == 9 ? -3f : j * 0.01f; // the tie in a later lane group
            cases[4][j] = j + 0.5f - 16; // x/d lands on halves in Q8_0 after the scale
            cases[5][j] = (j % 2 == 0 ? 1 : -1) * (8 - j % 9); // exact multiples of Q4_0's step
            cases[6][j] = j == 31 ? -1e-3f : 0f; // the largest magnitude in the last lane only
        }
        for (float[] x : cases) {
            int[] bits = new int[GgmlBlocks.QK];
            for (int j = 0; j < x.length; j++) {
                bits[j] = Float.floatToRawIntBits(x[j]);
            }
            same(GgmlBlocks.Q8_0, bits, bits.length);
            same(GgmlBlocks.Q4_0, bits, bits.length);
        }
    }

    private static void same(GgmlBlocks kind, int[] bits, int n) {
        byte[] simd = new byte[(int) kind.bytes(n)];
        byte[] scalar = new byte[simd.length];
        kind.quantize(bits, 0, n, simd, 0);
        kind.scalar(bits, 0, n / kind.values, scalar, 0);
        if (!Arrays.equals(simd, scalar)) {
            for (int b = 0; b < n / kind.values; b++) {
                int at = b * kind.blockBytes;
                if (!Arrays.equals(simd, at, at + kind.blockBytes, scalar, at, at + kind.blockBytes)) {
                    float[] x = new float[kind.values];
                    for (int j = 0; j < x.length; j++) {
                        x[j] = Float.intBitsToFloat(bits[b * kind.values + j]);
                    }
                    throw new AssertionError(kind + " block " + Arrays.toString(x) + ": SIMD "
                            + Arrays.toString(Arrays.copyOfRange(simd, at, at + kind.blockBytes)) + ", scalar "
                            + Arrays.toString(Arrays.copyOfRange(scalar, at, at + kind.blockBytes)));
                }
            }
        }
    }
}
