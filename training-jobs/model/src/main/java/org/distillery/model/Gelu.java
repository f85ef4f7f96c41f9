package org.distillery.model;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * GPT-2's GELU, the tanh approximation {@code 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))}
 * (Hugging Face's {@code gelu_new}), and its derivative, built from elementwise ND4J ops.
 * ND4J 1.0.0-M2.1's {@code PreciseGELU} is not this function (it gives -0.0067 at x = -4, where the
 * tanh form gives -0.00007), so it is not used; {@code GeluTest} checks these against a hand computation.
 */
final class Gelu {
    private static final double K = Math.sqrt(2.0 / Math.PI);
    private static final double C = 0.044715;

    private Gelu() {
    }

    /** Returns {@code tanh(u)}, which the backward pass reuses, and writes GELU(x) into {@code out}. */
    static INDArray forward(INDArray x, INDArray out) {
        INDArray th = x.mul(x).muli(x).muli(C).addi(x).muli(K);
        Transforms.tanh(th, false);
        out.assign(th).addi(1.0).muli(x).muli(0.5);
        return th;
    }

    /** {@code dx = dy * GELU'(x)}, given {@code th = tanh(u)} from {@link #forward}. */
    static INDArray backward(INDArray dy, INDArray x, INDArray th) {
        // GELU'(x) = 0.5 (1 + th) + 0.5 x (1 - th^2) K (1 + 3 C x^2)
        INDArray inner = x.mul(x).muli(3 * C).addi(1.0).muli(K * 0.5).muli(x);
        INDArray sech2 = th.mul(th).rsubi(1.0);
        return inner.muli(sech2).addi(th.add(1.0).muli(0.5)).muli(dy);
    }
}
