package org.distillery.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

@Tag("numerical")
class FastExpTest {
    @Test
    void matchesMathExpAcrossTheFloatRange() {
        double worst = 0;
        for (float x = -87f; x <= 88.5f; x += 0.00137f) {
            double want = Math.exp(x);
            double rel = Math.abs(FastExp.exp(x) - want) / want;
            worst = Math.max(worst, rel);
        }
        assertTrue(worst < 2e-7, "worst relative error " + worst);
    }

    @Test
    void limits() {
        assertEquals(1f, FastExp.exp(0f));
        assertEquals(0f, FastExp.exp(-105f));
        assertEquals(0f, FastExp.exp(Float.NEGATIVE_INFINITY));
        assertEquals(Float.POSITIVE_INFINITY, FastExp.exp(89f));
        assertEquals(Float.POSITIVE_INFINITY, FastExp.exp(100f));
        assertEquals(Float.POSITIVE_INFINITY, FastExp.exp(Float.POSITIVE_INFINITY));
        assertTrue(Float.isNaN(FastExp.exp(Float.NaN)));
        // subnormal results are rounded once: within half a subnormal step (2^-150) of the true value
        for (float x : new float[] {-88f, -95f, -100f, -103.2f}) {
            assertEquals(Math.exp(x), FastExp.exp(x), 0x1p-150 + Math.exp(x) * 2e-7, "exp(" + x + ")");
        }
        assertEquals(Math.exp(88.7f), FastExp.exp(88.7f), Math.exp(88.7f) * 2e-7, "near the largest float");
        assertEquals((float) Math.E, FastExp.exp(1f), 1e-6f);
    }

    /**
     * The Vector API engine's exp gives FastExp's bits in every lane and in the scalar tail: its results then do
     * not depend on whether the JIT has compiled the kernel yet (the first calls here run interpreted, the last
     * compiled), nor on where a value falls in a span. Spans of every length up to 3 vectors and 1 cover lanes
     * and tails at every vector width (4 lanes, SSE, to 16, AVX-512).
     */
    @Test
    void vectorExpEqualsFastExpBitForBit() {
        float[] edges = {Float.NEGATIVE_INFINITY, -100f, -87.34f, -87.33f, -87.32f, -1e-30f, 0f, -0f, 1e-30f, 1f,
            88.7f, 88.72f, 88.73f, 100f, Float.POSITIVE_INFINITY, Float.NaN};
        int span = 49;
        java.nio.ByteBuffer in = java.nio.ByteBuffer.allocateDirect(span * 4).order(java.nio.ByteOrder.nativeOrder());
        java.nio.ByteBuffer out = java.nio.ByteBuffer.allocateDirect(span * 4).order(java.nio.ByteOrder.nativeOrder());
        long checked = 0;
        int k = 0;
        for (int round = 0; round < 4000; round++) {
            int n = 1 + round % span;
            float scale = round % 3 == 0 ? 1f : -0.5f;
            float shift = round % 5 == 0 ? 0f : 1.25f;
            for (int i = 0; i < n; i++, k++) {
                in.putFloat(4 * i, k < edges.length ? edges[k] : -90f + (k * 0.0137f) % 180f);
            }
            VectorKernels.exp(in, 0, out, 0, n, scale, shift);
            float got = VectorKernels.sum(out, 0, n);
            for (int i = 0; i < n; i++) {
                float x = in.getFloat(4 * i);
                float want = FastExp.exp(scale * x - shift);
                assertEquals(Float.floatToIntBits(want), Float.floatToIntBits(out.getFloat(4 * i)),
                        "exp(" + scale + " * " + x + " - " + shift + ") at " + i + " of " + n);
                checked++;
            }
            float sum = 0f;
            for (int i = 0; i < n; i++) {
                sum += out.getFloat(4 * i);
            }
            if (Float.isFinite(sum)) { // the kernel adds lanes by a tree, this loop in order: n ulps apart at most
                assertEquals(sum, got, Math.ulp(sum) * n, "the sum of the values written");
            } else {
                assertEquals(Float.isNaN(sum), Float.isNaN(got), "the sum of the values written: " + sum + " vs " + got);
            }
        }
        assertEquals(99_721, checked, "values checked");
    }
}
