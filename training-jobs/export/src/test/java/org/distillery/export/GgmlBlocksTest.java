package org.distillery.export;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The SIMD quantizers give the scalar ones' bytes ({@code GgufQuantTest} checks the scalar ones against ggml's C and
 * llama.cpp's quantizer): roundf over every float32 in [0.25, 127] of either sign, and whole blocks over random
 * weights of every scale and the cases a lane-wise search could get wrong (ties of +m and -m, all zeros, -0).
 */
class GgmlBlocksTest {
    @Test
    void theSimdQuantizersAreTheOnesTested() {
        assertTrue(GgmlBlocks.SIMD, "tests run with the Vector API on a machine with 8 or more float lanes");
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
        kind.scalar(bits, 0, n / GgmlBlocks.QK, scalar, 0);
        if (!Arrays.equals(simd, scalar)) {
            for (int b = 0; b < n / GgmlBlocks.QK; b++) {
                int at = b * kind.blockBytes;
                if (!Arrays.equals(simd, at, at + kind.blockBytes, scalar, at, at + kind.blockBytes)) {
                    float[] x = new float[GgmlBlocks.QK];
                    for (int j = 0; j < x.length; j++) {
                        x[j] = Float.intBitsToFloat(bits[b * GgmlBlocks.QK + j]);
                    }
                    throw new AssertionError(kind + " block " + Arrays.toString(x) + ": SIMD "
                            + Arrays.toString(Arrays.copyOfRange(simd, at, at + kind.blockBytes)) + ", scalar "
                            + Arrays.toString(Arrays.copyOfRange(scalar, at, at + kind.blockBytes)));
                }
            }
        }
    }
}
