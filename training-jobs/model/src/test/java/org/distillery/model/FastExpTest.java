package org.distillery.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

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
}
