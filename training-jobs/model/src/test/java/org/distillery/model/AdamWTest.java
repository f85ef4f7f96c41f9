package org.distillery.model;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

@Tag("numerical")
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
            adam.step(p.flat(), g.flat(), 0.01, 0);
            m = 0.9 * m + 0.1 * gr;
            v = 0.95 * v + 0.05 * gr * gr;
            double update = (m / (1 - Math.pow(0.9, t))) / (Math.sqrt(v / (1 - Math.pow(0.95, t))) + 1e-8);
            pw = pw * (1 - 0.01 * 0.1) - 0.01 * update;
            pb = pb - 0.01 * update;
        }
        assertEquals(pw, p.get(w).getDouble(0), 1e-6);
        assertEquals(pb, p.get(b).getDouble(0), 1e-6);
    }

    /** A gradient of norm 5 clipped to 1: the first Adam step is the same (Adam divides the scale out), the moments are not. */
    @ParameterizedTest
    @MethodSource("org.distillery.model.GptTest#kernels")
    void clipsToTheGlobalNormInsideTheUpdateAndLeavesTheGradientZero(Kernels kernels) {
        GptParameters p = GptParameters.zeros(GptTest.TINY);
        GptParameters g = GptParameters.zeros(GptTest.TINY);
        INDArray flat = g.flat();
        flat.putScalar(0, 3);
        flat.putScalar(5, 4);
        AdamW adam = new AdamW(p, 0.9, 0.95, 1e-8, 0.0, null, null, 0, kernels);
        assertEquals(5.0, adam.step(p.flat(), flat, 0.01, 1.0), 1e-6);
        assertEquals(0.1 * 3 / 5.0, adam.firstMoment().getDouble(0), 1e-6);
        assertEquals(0.1 * 4 / 5.0, adam.firstMoment().getDouble(5), 1e-6);
        assertEquals(0.05 * (4 / 5.0) * (4 / 5.0), adam.secondMoment().getDouble(5), 1e-7);
        assertEquals(0.0, flat.norm2Number().doubleValue(), "the step consumes the gradient");

        flat.putScalar(0, 0.3);
        flat.putScalar(5, 0.4);
        assertEquals(0.5, adam.step(p.flat(), flat, 0.01, 1.0), 1e-6); // under the limit: not scaled
        assertEquals(0.9 * 0.1 * 3 / 5.0 + 0.1 * 0.3, adam.firstMoment().getDouble(0), 1e-6);
    }

    @ParameterizedTest
    @MethodSource("org.distillery.model.GptTest#kernels")
    void sumOfSquaresAgreesWithADoubleSumOverMillionsOfValues(Kernels kernels) {
        int n = 3 * (1 << 20) + 7;
        INDArray x = Nd4j.rand(org.nd4j.linalg.api.buffer.DataType.FLOAT, n).subi(0.5);
        double exact = 0;
        for (int i = 0; i < n; i++) {
            double v = x.getFloat(i);
            exact += v * v;
        }
        assertEquals(exact, kernels.sumOfSquares(x), exact * 1e-6);
    }
}
