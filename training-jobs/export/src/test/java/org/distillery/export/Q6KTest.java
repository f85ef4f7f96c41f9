package org.distillery.export;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.SplittableRandom;
import org.distillery.core.io.Float16;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The q6_k super-block on its own; that its bytes are llama.cpp's is {@link GgufQuantTest}'s to show, against
 * llama.cpp's own quantizer.
 */
@Tag("numerical")
class Q6KTest {
    @Test
    void nearestIntRoundsHalvesToEvenAsRint() {
        float[] halves = {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 31.5f, -32.5f};
        int[] want = {0, 2, 2, 0, -2, -2, 32, -32};
        for (int i = 0; i < halves.length; i++) {
            assertEquals(want[i], Q6K.nearestInt(halves[i]), "nearest_int(" + halves[i] + ")");
        }
        SplittableRandom r = new SplittableRandom(3);
        for (int i = 0; i < 100_000; i++) {
            float v = (float) r.nextDouble(-4_000_000, 4_000_000) / (1 << r.nextInt(20));
            assertEquals((int) Math.rint(v), Q6K.nearestInt(v), "nearest_int(" + v + ")");
        }
    }

    /** Value i of a block is read from ql, qh and scales where ggml's layout puts it, with d applied. */
    @Test
    void dequantizesGgmlsLayout() {
        byte[] block = new byte[GgmlBlocks.Q6_K.blockBytes];
        for (int s = 0; s < 16; s++) {
            block[192 + s] = (byte) (s + 1); // scale of sub-block s
        }
        short d = Float16.fromFloatBits(Float.floatToRawIntBits(0.5f));
        block[208] = (byte) d;
        block[209] = (byte) (d >>> 8);
        // value 0: ql[0] low nibble, qh[0] bits 0-1; 32: ql[32] low, qh bits 2-3; 64: ql[0] high, qh bits 4-5;
        // 96: ql[32] high, qh bits 6-7; 128 + k: the same from ql[64], qh[32] and the second eight scales
        block[0] = (byte) 0x3A; // q(0) low 0xA, q(64) low 0x3
        block[32] = (byte) 0x5C; // q(32) low 0xC, q(96) low 0x5
        block[128] = (byte) 0b10_01_11_00; // q(0) high 0, q(32) high 3, q(64) high 1, q(96) high 2
        block[64] = (byte) 0x0F; // q(128) low 0xF
        block[160] = (byte) 0b11; // q(128) high 3
        float[] y = new float[256];
        GgmlBlocks.Q6_K.dequantize(ByteBuffer.wrap(block).order(ByteOrder.LITTLE_ENDIAN), y, 0);
        assertEquals(0.5f * 1 * (0x0A - 32), y[0]);
        assertEquals(0.5f * 3 * (0x3C - 32), y[32]);
        assertEquals(0.5f * 5 * (0x13 - 32), y[64]);
        assertEquals(0.5f * 7 * (0x25 - 32), y[96]);
        assertEquals(0.5f * 9 * (0x3F - 32), y[128]);
        assertEquals(0.5f * 1 * -32, y[1], "ql and qh zero: -32 steps of sub-block 0");
    }

    /**
     * 6 bits a value: the error is about a 64th of a sub-block's range in rms (1.8% measured). Its worst is about a
     * tenth, where the search's scale (up to 32.9 steps for the largest value) clips it at +31 and a small
     * sub-block's int8 scale rounds down; a misplaced bit would be a whole share of it.
     */
    @Test
    void roundTripsWithinASmallShareOfEachSubBlocksRange() {
        SplittableRandom r = new SplittableRandom(5);
        float[] x = new float[256];
        byte[] q = new byte[GgmlBlocks.Q6_K.blockBytes];
        float[] y = new float[256];
        double worst = 0;
        double err2 = 0;
        double x2 = 0;
        for (int round = 0; round < 200; round++) {
            // float16's range for the super-scale (weights far smaller have none, in ggml as here)
            double scale = Math.pow(10, r.nextDouble(-2, 4));
            for (int i = 0; i < x.length; i++) {
                x[i] = (float) (r.nextGaussian() * scale * (1 + i / 16)); // sub-blocks of different ranges
            }
            GgmlBlocks.Q6_K.quantize(x, 0, q, 0);
            GgmlBlocks.Q6_K.dequantize(ByteBuffer.wrap(q).order(ByteOrder.LITTLE_ENDIAN), y, 0);
            for (int s = 0; s < 16; s++) {
                float amax = 0;
                for (int i = s * 16; i < s * 16 + 16; i++) {
                    amax = Math.max(amax, Math.abs(x[i]));
                }
                for (int i = s * 16; i < s * 16 + 16; i++) {
                    worst = Math.max(worst, Math.abs(x[i] - y[i]) / amax);
                    err2 += (double) (x[i] - y[i]) * (x[i] - y[i]) / ((double) amax * amax);
                    x2 += (double) x[i] * x[i] / ((double) amax * amax);
                }
            }
        }
        System.out.printf("q6_k round trip: worst error %.4f of a sub-block's largest value, relative rms %.4f%n",
                worst, Math.sqrt(err2 / x2));
        assertTrue(worst < 0.15, "worst error " + worst + " of its sub-block's largest value");
        assertTrue(Math.sqrt(err2 / x2) < 0.03, "relative rms error " + Math.sqrt(err2 / x2));
    }

    @Test
    void aZeroBlockIsAllZeroBytes() {
        byte[] q = new byte[GgmlBlocks.Q6_K.blockBytes];
        java.util.Arrays.fill(q, (byte) 7);
        GgmlBlocks.Q6_K.quantize(new float[256], 0, q, 0);
        for (byte b : q) {
            assertEquals(0, b);
        }
    }
}
