package org.distillery.model.distill;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/** The hidden-state losses against hand computations, and their gradients against central differences. */
class HiddenStateLossTest {

    static INDArray randn(long seed, long... shape) {
        return Nd4j.randn(Nd4j.getRandomFactory().getNewRandomInstance(seed), shape).castTo(DataType.DOUBLE);
    }

    @Test
    void mseAndCosineOfTwoRowsByHand() {
        INDArray s = Nd4j.create(new double[][] {{1, 0}, {3, 4}});
        INDArray t = Nd4j.create(new double[][] {{0, 2}, {3, 4}});
        INDArray ds = Nd4j.zeros(DataType.DOUBLE, 2, 2);
        // squared differences 1 + 4 + 0 + 0 over 4 values
        assertEquals(5.0 / 4, HiddenStateLoss.pair(HiddenStateLoss.Kind.MSE, s, null, t, ds, null, 1), 1e-12);
        // d/ds of mean (s - t)^2 = 2 (s - t) / 4
        assertEquals(0.5, ds.getDouble(0, 0), 1e-12);
        assertEquals(-1.0, ds.getDouble(0, 1), 1e-12);
        // rows at 90 degrees (1 - 0) and parallel (1 - 1): mean 0.5
        assertEquals(0.5, HiddenStateLoss.pair(HiddenStateLoss.Kind.COSINE, s, null, t, ds, null, 1), 1e-12);
        // at 90 degrees, d(1 - cos)/ds = -t / (|s||t|) / 2 rows = (0, -0.5); parallel rows: 0
        assertEquals(0.0, ds.getDouble(0, 0), 1e-12);
        assertEquals(-0.5, ds.getDouble(0, 1), 1e-12);
        assertEquals(0.0, ds.getRow(1).norm2Number().doubleValue(), 1e-12);
        // a projection: s W with W = [[0, 2], [1, 0]] maps (1, 0) onto (0, 2) and (3, 4) onto (4, 6)
        INDArray w = Nd4j.create(new double[][] {{0, 2}, {1, 0}});
        INDArray dw = Nd4j.zeros(DataType.DOUBLE, 2, 2);
        assertEquals((1 + 4) / 4.0, HiddenStateLoss.pair(HiddenStateLoss.Kind.MSE, s, w, t, ds, dw, 1), 1e-12);
    }

    @ParameterizedTest
    @EnumSource(HiddenStateLoss.Kind.class)
    void gradientsMatchCentralDifferences(HiddenStateLoss.Kind kind) {
        for (boolean projected : new boolean[] {false, true}) {
            int cs = projected ? 3 : 4;
            INDArray s = randn(1, 5, cs);
            INDArray t = randn(2, 5, 4);
            INDArray w = projected ? randn(3, cs, 4) : null;
            double coefficient = 0.7;
            INDArray ds = Nd4j.zeros(DataType.DOUBLE, 5, cs);
            INDArray dw = projected ? Nd4j.zeros(DataType.DOUBLE, cs, 4) : null;
            HiddenStateLoss.pair(kind, s, w, t, ds, dw, coefficient);
            double h = 1e-6;
            for (INDArray x : projected ? List.of(s, w) : List.of(s)) {
                INDArray grad = x == s ? ds : dw;
                for (long i = 0; i < x.length(); i++) {
                    double v = x.getDouble(i);
                    x.putScalar(i, v + h);
                    double up = HiddenStateLoss.pair(kind, s, w, t, ds.dup(), projected ? dw.dup() : null, 1);
                    x.putScalar(i, v - h);
                    double down = HiddenStateLoss.pair(kind, s, w, t, ds.dup(), projected ? dw.dup() : null, 1);
                    x.putScalar(i, v);
                    assertEquals(coefficient * (up - down) / (2 * h), grad.getDouble(i), 1e-7,
                            kind + (x == s ? " d/dstudent" : " d/dW") + " at " + i);
                }
            }
        }
    }

    /** The loss object: weight and pair mean, the projection's gradient accumulating across calls. */
    @Test
    void weighsTheMeanOverPairsAndAccumulatesTheProjectionGradient() {
        INDArray init = Nd4j.create(new float[][] {{1, 0, 0}, {0, 1, 0}});
        HiddenStateLoss loss = new HiddenStateLoss(HiddenStateLoss.Kind.MSE, 0.5,
                List.of(new HiddenStateLoss.Pair(1, 2), new HiddenStateLoss.Pair(2, 4)), 2, 3, init);
        assertEquals(2 * 6, loss.parameters().length());
        INDArray s = Nd4j.create(new float[][] {{1, 2}});
        INDArray[] student = {s, s};
        INDArray[] teacher = {Nd4j.create(new float[][] {{1, 2, 0}}), Nd4j.create(new float[][] {{1, 2, 3}})};
        loss.teacher(teacher);
        INDArray[] grad = {Nd4j.zeros(DataType.FLOAT, 1, 2), Nd4j.zeros(DataType.FLOAT, 1, 2)};
        // pair 1 matches exactly; pair 2 misses by 3 in one of 3 values: mean (0 + 3) / 2, weighed 0.5
        assertEquals(0.5 * 1.5, loss.apply(student, grad, 1.0), 1e-6);
        double first = loss.gradients().norm2Number().doubleValue();
        loss.apply(student, grad, 1.0);
        assertEquals(2 * first, loss.gradients().norm2Number().doubleValue(), 1e-5);
        assertEquals(1.5, loss.takeMean(), 1e-6);
        assertEquals(Double.NaN, loss.takeMean());
    }
}
