package org.distillery.export;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** Narrowing checked against an exact reference: the nearest representable value, ties to the even one. */
class TensorTypeTest {
    /** Every half value, decoded exactly, sorted: the nearest is found by search, not by the code under test. */
    private static double nearestHalf(double v) {
        double best = Double.NaN;
        double bestErr = Double.POSITIVE_INFINITY;
        int bestBits = 0;
        for (int h = 0; h < 0x7C00; h++) {
            double d = TensorType.fromHalf((short) h);
            double err = Math.abs(Math.abs(v) - d);
            if (err < bestErr || (err == bestErr && (h & 1) == 0)) {
                bestErr = err;
                best = d;
                bestBits = h;
            }
        }
        if (Math.abs(v) >= 65520) {
            return Math.copySign(Double.POSITIVE_INFINITY, v);
        }
        return Math.copySign(best, v);
    }

    @Test
    void halfRoundsToNearestEvenAcrossNormalsSubnormalsAndOverflow() {
        float[] cases = {0f, -0f, 1f, 1.0009766f, 1.00048828125f, 1.00146484375f, 65504f, 65519.99f, 65520f, 1e9f,
                6.1035156e-5f, 6.0975552e-5f, 5.9604645e-8f, 2.9802322e-8f, 2.9802326e-8f, 1e-10f, -3.14159f, 0.1f};
        for (float v : cases) {
            assertEquals(nearestHalf(v), TensorType.fromHalf(TensorType.toHalf(v)), 0.0, "half(" + v + ")");
        }
        SplittableRandom r = new SplittableRandom(1);
        for (int i = 0; i < 2000; i++) {
            float v = (float) ((r.nextDouble() - 0.5) * Math.pow(2, r.nextInt(-30, 18)));
            assertEquals(nearestHalf(v), TensorType.fromHalf(TensorType.toHalf(v)), 0.0, "half(" + v + ")");
        }
        assertEquals(0x7E00, TensorType.toHalf(Float.NaN) & 0x7FFF);
        assertEquals((short) 0xFC00, TensorType.toHalf(Float.NEGATIVE_INFINITY));
    }

    @Test
    void bfloat16RoundsToNearestEven() {
        assertEquals(1f, TensorType.fromBfloat16(TensorType.toBfloat16(1.00390625f)), 0f, "a tie goes to even");
        assertEquals(1.015625f, TensorType.fromBfloat16(TensorType.toBfloat16(1.01171875f)), 0f, "a tie goes to even");
        assertEquals(1.0078125f, TensorType.fromBfloat16(TensorType.toBfloat16(Math.nextUp(1.00390625f))), 0f, "above the tie");
        assertEquals(-2.5f, TensorType.fromBfloat16(TensorType.toBfloat16(-2.5f)), 0f);
        assertEquals(true, Float.isNaN(TensorType.fromBfloat16(TensorType.toBfloat16(Float.NaN))));
    }
}
