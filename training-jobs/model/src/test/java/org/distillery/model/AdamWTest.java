package org.distillery.model;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.api.ndarray.INDArray;

class AdamWTest {
    /** Two steps by hand for one decayed weight and one bias (never decayed). */
    @ParameterizedTest
    @MethodSource("org.distillery.model.GptTest#kernels")
    void matchesAHandComputationAndSkipsDecayOnBiases(Kernels kernels) {
        GptParameters p = GptParameters.initialize(GptTest.TINY, 1);
        String w = "h.0.mlp.c_fc.weight";
        String b = "h.0.mlp.c_fc.bias";
        p.get(w).putScalar(0, 0.5);
        p.get(b).putScalar(0, 0.5);
        GptParameters g = GptParameters.zeros(GptTest.TINY);
        AdamW adam = new AdamW(p, 0.9, 0.95, 1e-8, 0.1, null, null, 0, kernels);
        double[] grads = {0.2, -0.1};
        double pw = 0.5;
        double pb = 0.5;
        double m = 0;
        double v = 0;
        for (int t = 1; t <= 2; t++) {
            double gr = grads[t - 1];
            g.get(w).putScalar(0, gr);
            g.get(b).putScalar(0, gr);
            adam.step(p.flat(), g.flat(), 0.01);
            m = 0.9 * m + 0.1 * gr;
            v = 0.95 * v + 0.05 * gr * gr;
            double update = (m / (1 - Math.pow(0.9, t))) / (Math.sqrt(v / (1 - Math.pow(0.95, t))) + 1e-8);
            pw = pw * (1 - 0.01 * 0.1) - 0.01 * update;
            pb = pb - 0.01 * update;
        }
        assertEquals(pw, p.get(w).getDouble(0), 1e-6);
        assertEquals(pb, p.get(b).getDouble(0), 1e-6);
    }

    @Test
    void clippingScalesToTheGlobalNorm() {
        GptParameters g = GptParameters.zeros(GptTest.TINY);
        INDArray flat = g.flat();
        flat.putScalar(0, 3);
        flat.putScalar(5, 4);
        assertEquals(5.0, AdamW.clipGlobalNorm(flat, 1.0), 1e-6);
        assertEquals(1.0, flat.norm2Number().doubleValue(), 1e-5);
        assertEquals(1.0, AdamW.clipGlobalNorm(flat, 0), 1e-5);
    }
}
