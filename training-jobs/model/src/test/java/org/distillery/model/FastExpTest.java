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
        assertEquals(0f, FastExp.exp(-100f));
        assertEquals(0f, FastExp.exp(Float.NEGATIVE_INFINITY));
        assertEquals(Float.POSITIVE_INFINITY, FastExp.exp(100f));
        assertEquals((float) Math.E, FastExp.exp(1f), 1e-6f);
    }

    /**
     * The Vector API engine's exp gives FastExp's bits in every lane: its results then do not depend on
     * whether the JIT has compiled the kernel yet (the first calls here run interpreted, the last compiled).
     */
    @Test
    void vectorExpEqualsFastExpBitForBit() {
        int lanes = jdk.incubator.vector.FloatVector.SPECIES_PREFERRED.length();
        float[] edges = {Float.NEGATIVE_INFINITY, -100f, -87.34f, -87.33f, -87.32f, -1e-30f, 0f, 1e-30f, 1f, 88.7f,
            88.72f, 88.73f, 100f, Float.POSITIVE_INFINITY, Float.NaN};
        float[] xs = new float[lanes];
        float[] got = new float[lanes];
        long checked = 0;
        int rounds = 160_000 / lanes; // the same values at every vector width: 4 lanes (SSE) to 16 (AVX-512)
        for (int round = 0; round < rounds; round++) {
            for (int i = 0; i < lanes; i++) {
                int k = round * lanes + i;
                xs[i] = k < edges.length ? edges[k] : -90f + (k * 0.0137f) % 180f;
            }
            VectorKernels.exp(jdk.incubator.vector.FloatVector.fromArray(
                    jdk.incubator.vector.FloatVector.SPECIES_PREFERRED, xs, 0)).intoArray(got, 0);
            for (int i = 0; i < lanes; i++) {
                assertEquals(Float.floatToIntBits(FastExp.exp(xs[i])), Float.floatToIntBits(got[i]),
                        "exp(" + xs[i] + "): " + FastExp.exp(xs[i]) + " vs " + got[i]);
                checked++;
            }
        }
        assertEquals(160_000, checked);
    }
}
