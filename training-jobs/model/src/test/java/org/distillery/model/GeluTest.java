package org.distillery.model;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/** GPT-2's GELU (tanh form); ND4J M2.1's PreciseGELU is not it, so both kernels build their own. */
@Tag("numerical")
class GeluTest {
    @ParameterizedTest
    @MethodSource("org.distillery.model.GptTest#kernels")
    void forwardAndDerivativeMatchAHandComputation(Kernels kernels) {
        float[] xs = {-6f, -4f, -1.5f, -0.3f, 0f, 0.2f, 1f, 2.5f, 6f};
        INDArray x = Nd4j.createFromArray(xs);
        INDArray y = Nd4j.createUninitialized(DataType.FLOAT, xs.length);
        INDArray th = kernels.gelu(x, y);
        INDArray dy = kernels.geluBackward(Nd4j.ones(DataType.FLOAT, xs.length), x, th);
        double k = Math.sqrt(2 / Math.PI);
        for (int i = 0; i < xs.length; i++) {
            double v = xs[i];
            double t = Math.tanh(k * (v + 0.044715 * v * v * v));
            assertEquals(0.5 * v * (1 + t), y.getDouble(i), 1e-5, "gelu(" + v + ")");
            double d = 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * k * (1 + 3 * 0.044715 * v * v);
            assertEquals(d, dy.getDouble(i), 1e-5, "gelu'(" + v + ")");
            // and the derivative agrees with a central difference of the function itself
            double h = 1e-3;
            double fd = (gelu(v + h) - gelu(v - h)) / (2 * h);
            assertEquals(fd, dy.getDouble(i), 1e-4, "finite difference at " + v);
        }
    }

    private static double gelu(double v) {
        return 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v)));
    }
}
