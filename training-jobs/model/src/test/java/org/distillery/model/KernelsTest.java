package org.distillery.model;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.function.Function;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The three engines agree on every kernel, on shapes that are not multiples of any vector width, so
 * the SIMD loops' scalar tails and the BLAS offsets of views are exercised too.
 */
@Tag("numerical")
class KernelsTest {
    private static final Kernels[] ENGINES = {new VectorKernels(), new JavaKernels(), new Nd4jKernels()};
    private static final int ROWS = 13;
    private static final int COLS = 37;

    private static INDArray random(long seed, long... shape) {
        return Nd4j.rand(Nd4j.getRandomFactory().getNewRandomInstance(seed), shape).castTo(DataType.FLOAT).subi(0.5).muli(4);
    }

    /** Runs op on fresh copies of the inputs for each engine and checks the outputs against the first's. */
    private static void agree(String name, double tolerance, Function<Kernels, INDArray[]> op) {
        INDArray[] want = op.apply(ENGINES[0]);
        for (int e = 1; e < ENGINES.length; e++) {
            INDArray[] got = op.apply(ENGINES[e]);
            for (int i = 0; i < want.length; i++) {
                // relative to the output's largest value, where that is over 1 (sums over hundreds of rows)
                double err = want[i].sub(got[i]).amaxNumber().doubleValue()
                        / Math.max(1.0, want[i].amaxNumber().doubleValue());
                assertEquals(0.0, err, tolerance, name + " output " + i + ": " + ENGINES[e].getClass().getSimpleName()
                        + " against " + ENGINES[0].getClass().getSimpleName());
            }
        }
    }

    @Test
    void rowKernelsAgree() {
        INDArray x = random(1, ROWS, COLS);
        INDArray gain = random(2, COLS);
        INDArray bias = random(3, COLS);
        agree("layerNorm", 1e-5, k -> {
            INDArray y = Nd4j.create(DataType.FLOAT, ROWS, COLS);
            INDArray xhat = Nd4j.create(DataType.FLOAT, ROWS, COLS);
            INDArray rstd = Nd4j.create(DataType.FLOAT, ROWS);
            k.layerNorm(x, gain, bias, y, xhat, rstd);
            INDArray dgain = Nd4j.zeros(DataType.FLOAT, COLS);
            INDArray dbias = Nd4j.zeros(DataType.FLOAT, COLS);
            INDArray dx = Nd4j.create(DataType.FLOAT, ROWS, COLS);
            k.layerNormBackward(x.dup(), xhat, rstd, gain, dgain, dbias, dx, false);
            INDArray residual = bias.reshape(1, COLS).repeat(0, ROWS).dup();
            k.layerNormBackward(x.dup(), xhat, rstd, gain, dgain, dbias, residual, true);
            assertEquals(0.0, residual.sub(dx).subiRowVector(bias).amaxNumber().doubleValue(), 1e-5, "accumulates");
            return new INDArray[] {y, xhat, rstd, dx, dgain, dbias, residual};
        });
        agree("gelu", 1e-5, k -> {
            INDArray y = Nd4j.create(DataType.FLOAT, ROWS, COLS);
            INDArray aux = k.gelu(x, y);
            return new INDArray[] {y, k.geluBackward(gain.reshape(1, COLS).repeat(0, ROWS).dup(), x, aux)};
        });
        int[] targets = new int[ROWS];
        for (int r = 0; r < ROWS; r++) {
            targets[r] = (r * 7) % COLS;
        }
        agree("crossEntropy", 1e-5, k -> {
            INDArray grad = Nd4j.create(DataType.FLOAT, ROWS, COLS);
            double loss = k.crossEntropy(x, targets, grad, 0.5);
            return new INDArray[] {Nd4j.scalar(loss), grad};
        });
        agree("bias, sums and add", 1e-5, k -> {
            INDArray y = x.dup();
            k.addBias(y, bias);
            INDArray sums = bias.dup();
            k.addColumnSums(x, sums);
            INDArray z = x.dup();
            k.add(z, y);
            return new INDArray[] {y, sums, z};
        });
    }

    /**
     * Sizes large enough that products, their fused bias, GELU and residual epilogues, and the column
     * sums are split over the cores, in row bands and in column bands, with and without dropout.
     */
    @Test
    void fusedLinearLayersAgreeWhenSplitOverCores() {
        int n = 301;
        int in = 203;
        INDArray x = random(12, n, in);
        for (int out : new int[] {707, 149}) {
            INDArray w = random(13, in, out).divi(10);
            INDArray b = random(14, out);
            INDArray mask = Nd4j.rand(Nd4j.getRandomFactory().getNewRandomInstance(15), n, out)
                    .castTo(DataType.FLOAT).gt(0.1).castTo(DataType.FLOAT).divi(0.9);
            INDArray residual = random(16, n, out);
            agree("fused linear layers " + n + "x" + in + "x" + out, 1e-4, k -> {
                INDArray pre = Nd4j.create(DataType.FLOAT, n, out);
                INDArray y = Nd4j.create(DataType.FLOAT, n, out);
                INDArray aux = k.linearGelu(x, w, b, pre, y);
                INDArray dpre = k.geluBackward(residual.dup(), pre, aux);
                INDArray r1 = residual.dup();
                k.linearResidual(x, w, b, null, Nd4j.create(DataType.FLOAT, n, out), r1);
                INDArray r2 = residual.dup();
                k.linearResidual(x, w, b, mask, Nd4j.create(DataType.FLOAT, n, out), r2);
                INDArray sums = b.dup();
                k.addColumnSums(y, sums);
                INDArray dw = Nd4j.ones(DataType.FLOAT, in, out);
                k.gemm(x, y, dw, true, false, 1.0);
                return new INDArray[] {pre, y, dpre, r1, r2, sums, dw, Nd4j.scalar(k.sumOfSquares(y) / y.length())}; // a mean: 1e-4 relative
            });
        }
    }

    @Test
    void attentionKernelsAgree() {
        int time = 11;
        INDArray scores = random(4, 3L * time, time);
        INDArray upstream = random(5, 3L * time, time);
        agree("causal softmax", 1e-6, k -> {
            INDArray p = scores.dup();
            k.causalSoftmax(p, time, 0.7);
            INDArray d = upstream.dup();
            k.softmaxBackward(p, d, 0.7);
            return new INDArray[] {p, d};
        });
    }

    @Test
    void fusedAttentionAgreesWithAttentionBuiltFromTheOtherKernels() {
        int batch = 2;
        int time = 19;
        int heads = 3;
        int width = 3 * heads * 7; // head size 7: no whole vector
        INDArray qkv = random(9, (long) batch * time, width);
        INDArray upstream = random(10, (long) batch * time, width / 3);
        INDArray mask = Nd4j.rand(Nd4j.getRandomFactory().getNewRandomInstance(11), batch, heads, time, time)
                .castTo(DataType.FLOAT).gt(0.2).castTo(DataType.FLOAT).divi(0.8);
        for (INDArray dropout : new INDArray[] {null, mask}) {
            agree("attention" + (dropout == null ? "" : " with dropout"), 1e-5, k -> {
                INDArray probs = Nd4j.create(DataType.FLOAT, batch, heads, time, time);
                INDArray y = Nd4j.create(DataType.FLOAT, (long) batch * time, width / 3);
                k.attention(qkv, dropout, probs, y, batch, time, heads);
                INDArray dqkv = Nd4j.create(DataType.FLOAT, (long) batch * time, width);
                k.attentionBackward(upstream, qkv, dropout, probs, dqkv, batch, time, heads);
                return new INDArray[] {probs, y, dqkv};
            });
        }
    }

    /** A new position's attention over a cache equals the last row of causal attention over the whole prefix. */
    @Test
    void cachedAttentionAgreesWithTheLastRowOfFullAttention() {
        int batch = 2;
        int heads = 3;
        int d = 7;
        int time = 11;
        int c = heads * d;
        INDArray qkv = random(12, (long) batch * time, 3L * c);
        agree("cached attention", 1e-5, k -> {
            INDArray keys = Nd4j.create(DataType.FLOAT, batch, heads, time + 2, d); // room to spare
            INDArray values = Nd4j.create(DataType.FLOAT, batch, heads, time + 2, d);
            INDArray[] newest = new INDArray[batch];
            for (int b = 0; b < batch; b++) {
                newest[b] = qkv.getRow((long) b * time + time - 1).reshape(1, 3L * c);
            }
            INDArray prefix = Nd4j.create(DataType.FLOAT, (long) batch * (time - 1), 3L * c);
            for (int b = 0; b < batch; b++) {
                for (int t = 0; t < time - 1; t++) {
                    prefix.putRow((long) b * (time - 1) + t, qkv.getRow((long) b * time + t));
                }
            }
            k.cacheKeysValues(prefix, keys, values, 0, time - 1);
            INDArray last = Nd4j.concat(0, newest);
            k.cacheKeysValues(last, keys, values, time - 1, 1);
            INDArray y = Nd4j.create(DataType.FLOAT, batch, c);
            k.cachedAttention(last, keys, values, time, y);
            INDArray full = Nd4j.create(DataType.FLOAT, (long) batch * time, c);
            k.attention(qkv, null, Nd4j.create(DataType.FLOAT, batch, heads, time, time), full, batch, time, heads);
            INDArray fullLast = Nd4j.concat(0, full.getRow(time - 1).reshape(1, c), full.getRow(2L * time - 1).reshape(1, c));
            assertEquals(0.0, y.sub(fullLast).amaxNumber().doubleValue(), 1e-5, k.name());
            return new INDArray[] {y, keys, values};
        });
    }

    @Test
    void productsAgreeOnViews() {
        INDArray flat = random(6, 3000);
        INDArray a = flat.get(org.nd4j.linalg.indexing.NDArrayIndex.interval(100, 100 + ROWS * COLS)).reshape(ROWS, COLS);
        INDArray b = flat.get(org.nd4j.linalg.indexing.NDArrayIndex.interval(1000, 1000 + COLS * 5)).reshape(COLS, 5);
        INDArray bt = b.transpose().dup();
        agree("gemm", 1e-4, k -> {
            INDArray out = Nd4j.ones(DataType.FLOAT, ROWS, 5);
            k.gemm(a, b, out, false, false, 1.0);
            INDArray outT = Nd4j.create(DataType.FLOAT, ROWS, 5);
            k.gemm(a, bt, outT, false, true, 0.0);
            INDArray outA = Nd4j.create(DataType.FLOAT, COLS, 5);
            k.gemm(a, a.getColumns(0, 1, 2, 3, 4).dup(), outA, true, false, 0.0);
            return new INDArray[] {out, outT, outA};
        });
        INDArray q = random(7, 2, 3, 7, 5);
        INDArray kk = random(8, 2, 3, 7, 5);
        agree("batched gemm", 1e-4, k -> {
            INDArray s = Nd4j.create(DataType.FLOAT, 2, 3, 7, 7);
            k.batchedGemm(q, kk, s, false, true);
            INDArray back = Nd4j.create(DataType.FLOAT, 2, 3, 5, 5);
            k.batchedGemm(q, kk, back, true, false);
            return new INDArray[] {s, back};
        });
    }
}
