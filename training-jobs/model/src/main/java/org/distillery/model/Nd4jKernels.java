package org.distillery.model;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.blas.params.MMulTranspose;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.reduce.Mmul;
import org.nd4j.linalg.api.ops.impl.scatter.ScatterAdd;
import org.nd4j.linalg.api.ops.impl.shape.OneHot;
import org.nd4j.linalg.api.ops.impl.transforms.custom.LogSoftMax;
import org.nd4j.linalg.api.ops.impl.transforms.custom.SoftMax;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.ops.transforms.Transforms;

/** {@link Kernels} as ND4J ops: runs on whichever backend holds the arrays. */
final class Nd4jKernels implements Kernels {
    private static final double K = Math.sqrt(2.0 / Math.PI);
    private static final double C = 0.044715;

    @Override
    public void gemm(INDArray a, INDArray b, INDArray out, boolean transA, boolean transB, double beta) {
        MMulTranspose mt = MMulTranspose.builder().transposeA(transA).transposeB(transB).build();
        Nd4j.exec(new Mmul(a, b, out, 1.0, beta, mt));
    }

    @Override
    public void batchedGemm(INDArray a, INDArray b, INDArray out, boolean transA, boolean transB) {
        Nd4j.matmul(a, b, out, transA, transB, false);
    }

    @Override
    public void add(INDArray x, INDArray y) {
        x.addi(y);
    }

    @Override
    public void addBias(INDArray y, INDArray bias) {
        if (bias != null) {
            y.addiRowVector(bias);
        }
    }

    @Override
    public void adamW(INDArray params, INDArray grads, INDArray m, INDArray v, INDArray decayMask, AdamW.Update u) {
        if (u.gradScale() != 1.0) {
            grads.muli(u.gradScale());
        }
        m.muli(u.beta1()).addi(grads.mul(1 - u.beta1()));
        v.muli(u.beta2()).addi(grads.mul(grads).muli(1 - u.beta2()));
        // step = (m / c1) / (sqrt(v / c2) + eps)
        INDArray step = Transforms.sqrt(v.div(u.c2()), false).addi(u.eps()).rdivi(m).divi(u.c1());
        if (u.weightDecay() > 0) { // p *= 1 - lr * wd where the mask is 1
            params.muli(decayMask.mul(-u.lr() * u.weightDecay()).addi(1.0));
        }
        params.subi(step.muli(u.lr()));
        grads.assign(0);
    }

    @Override
    public double sumOfSquares(INDArray x) {
        // In double: libnd4j's float reduction drifts by 5e-4 over a few million values.
        double norm = x.castTo(DataType.DOUBLE).norm2Number().doubleValue();
        return norm * norm;
    }

    @Override
    public void layerNorm(INDArray x, INDArray gain, INDArray bias, INDArray y, INDArray xhat, INDArray rstd) {
        INDArray xc = x.subColumnVector(x.mean(true, 1));
        INDArray var = xc.mul(xc).mean(true, 1);
        rstd.assign(Transforms.pow(var.addi(GptConfig.LN_EPS), -0.5, false).reshape(rstd.shape()));
        xhat.assign(xc.muliColumnVector(rstd.reshape(rstd.length(), 1)));
        y.assign(xhat.mulRowVector(gain).addiRowVector(bias));
    }

    @Override
    public void rmsNorm(INDArray x, INDArray gain, double eps, INDArray y, INDArray rstd) {
        INDArray ms = x.mul(x).mean(true, 1).addi(eps);
        rstd.assign(Transforms.pow(ms, -0.5, false).reshape(rstd.shape()));
        y.assign(x.mulColumnVector(rstd.reshape(rstd.length(), 1)).muliRowVector(gain));
    }

    @Override
    public void rmsNormBackward(INDArray dy, INDArray x, INDArray rstd, INDArray gain, INDArray dgain, INDArray dx,
                                boolean accumulate) {
        INDArray r = rstd.reshape(rstd.length(), 1);
        dgain.addi(dy.mul(x).muliColumnVector(r).sum(0));
        INDArray gdy = dy.mulRowVector(gain);
        INDArray k = gdy.mul(x).mean(true, 1).muli(r).muli(r);
        INDArray grad = gdy.subi(x.mulColumnVector(k)).muliColumnVector(r);
        if (accumulate) {
            dx.addi(grad);
        } else {
            dx.assign(grad);
        }
    }

    @Override
    public void rope(INDArray x, int time, int from, int heads, int d, INDArray cos, INDArray sin, boolean inverse) {
        long rows = x.rows();
        int half = d / 2;
        // [B*T, W] → [B, T, W]; per head, the two halves as [B, T, d/2] views, turned by the [T, d/2] tables
        INDArray v = x.reshape('c', rows / time, time, x.columns());
        org.nd4j.linalg.indexing.INDArrayIndex at = NDArrayIndex.interval(from, from + time);
        INDArray c = cos.get(at, NDArrayIndex.all()).reshape('c', 1, time, half);
        INDArray s = sin.get(at, NDArrayIndex.all()).reshape('c', 1, time, half);
        if (inverse) {
            s = s.neg();
        }
        for (int h = 0; h < heads; h++) {
            INDArray a = v.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.interval((long) h * d, (long) h * d + half));
            INDArray b = v.get(NDArrayIndex.all(), NDArrayIndex.all(),
                    NDArrayIndex.interval((long) h * d + half, (long) (h + 1) * d));
            INDArray a0 = a.dup();
            INDArray cb = c.broadcast(a.shape());
            INDArray sb = s.broadcast(a.shape());
            a.assign(a0.mul(cb).subi(b.mul(sb)));
            b.assign(b.mul(cb).addi(a0.muli(sb)));
        }
        if (v.data() != x.data()) { // a reshape that had to copy: write back
            x.assign(v.reshape(x.shape()));
        }
    }

    @Override
    public void swiglu(INDArray gateUp, INDArray out) {
        long inter = out.columns();
        INDArray gate = gateUp.get(NDArrayIndex.all(), NDArrayIndex.interval(0, inter));
        INDArray up = gateUp.get(NDArrayIndex.all(), NDArrayIndex.interval(inter, 2 * inter));
        out.assign(gate.mul(Transforms.sigmoid(gate, true)).muli(up));
    }

    @Override
    public void swigluBackward(INDArray dout, INDArray gateUp, INDArray dgateUp) {
        long inter = dout.columns();
        INDArray gate = gateUp.get(NDArrayIndex.all(), NDArrayIndex.interval(0, inter));
        INDArray up = gateUp.get(NDArrayIndex.all(), NDArrayIndex.interval(inter, 2 * inter));
        INDArray s = Transforms.sigmoid(gate, true);
        dgateUp.get(NDArrayIndex.all(), NDArrayIndex.interval(inter, 2 * inter)).assign(dout.mul(gate).muli(s));
        // silu' = s (1 + g (1 - s))
        dgateUp.get(NDArrayIndex.all(), NDArrayIndex.interval(0, inter))
                .assign(dout.mul(up).muli(s).muli(s.rsub(1).muli(gate).addi(1)));
    }

    @Override
    public void layerNormBackward(INDArray dy, INDArray xhat, INDArray rstd, INDArray gain, INDArray dgain,
                                  INDArray dbias, INDArray dx, boolean accumulate) {
        dgain.addi(dy.mul(xhat).sum(0));
        dbias.addi(dy.sum(0));
        INDArray dxhat = dy.mulRowVector(gain);
        INDArray m1 = dxhat.mean(true, 1);
        INDArray m2 = dxhat.mul(xhat).mean(true, 1);
        INDArray grad = dxhat.subiColumnVector(m1).subi(xhat.mulColumnVector(m2))
                .muliColumnVector(rstd.reshape(rstd.length(), 1));
        if (accumulate) {
            dx.addi(grad);
        } else {
            dx.assign(grad);
        }
    }

    @Override
    public INDArray gelu(INDArray x, INDArray out) {
        INDArray th = x.mul(x).muli(x).muli(C).addi(x).muli(K);
        Transforms.tanh(th, false);
        out.assign(th).addi(1.0).muli(x).muli(0.5);
        return th;
    }

    @Override
    public INDArray geluBackward(INDArray dy, INDArray x, INDArray th) {
        // GELU'(x) = 0.5 (1 + th) + 0.5 x (1 - th^2) K (1 + 3 C x^2)
        INDArray inner = x.mul(x).muli(3 * C).addi(1.0).muli(K * 0.5).muli(x);
        INDArray sech2 = th.mul(th).rsubi(1.0);
        return inner.muli(sech2).addi(th.add(1.0).muli(0.5)).muli(dy);
    }

    @Override
    public void causalSoftmax(INDArray scores, int time, double scale) {
        scores.muli(scale);
        long rows = scores.rows();
        float[] m = new float[time * time];
        for (int i = 0; i < time; i++) {
            for (int j = i + 1; j < time; j++) {
                m[i * time + j] = Float.NEGATIVE_INFINITY;
            }
        }
        INDArray mask = Nd4j.createFromArray(m).reshape(1, (long) time * time);
        scores.reshape('c', rows / time, (long) time * time).addiRowVector(mask);
        Nd4j.exec(new SoftMax(scores, scores, 1));
    }

    @Override
    public void softmaxBackward(INDArray probs, INDArray dprobs, double scale) {
        INDArray dot = dprobs.mul(probs).sum(true, 1);
        dprobs.subiColumnVector(dot).muli(probs).muli(scale);
    }

    @Override
    public double[] softmaxRows(INDArray x, float scale, INDArray out) {
        INDArray z = x.mul(scale);
        INDArray max = z.max(1).reshape(z.rows(), 1);
        z.subiColumnVector(max);
        Transforms.exp(z, false);
        INDArray sum = z.sum(1).reshape(z.rows(), 1);
        out.assign(z.diviColumnVector(sum));
        double[] m = max.castTo(DataType.DOUBLE).data().asDouble();
        double[] s = sum.castTo(DataType.DOUBLE).data().asDouble();
        double[] lse = new double[m.length];
        for (int r = 0; r < lse.length; r++) {
            lse[r] = m[r] + Math.log(s[r]);
        }
        return lse;
    }

    @Override
    public double crossEntropy(INDArray logits, int[] targets, INDArray grad, double scale) {
        long n = logits.rows();
        INDArray logp = Nd4j.createUninitialized(DataType.FLOAT, logits.shape());
        Nd4j.exec(new LogSoftMax(logits, logp));
        INDArray onehot = Nd4j.createUninitialized(DataType.FLOAT, logits.shape());
        Nd4j.exec(new OneHot(Nd4j.createFromArray(targets), onehot, (int) logits.columns()));
        double loss = -onehot.mul(logp).sumNumber().doubleValue() / n;
        if (grad != null) {
            Transforms.exp(logp, false);
            grad.assign(logp.subi(onehot).muli(scale / n));
        }
        return loss;
    }

    @Override
    public void addColumnSums(INDArray dy, INDArray target) {
        target.addi(dy.sum(0).reshape(target.shape()));
    }

    @Override
    public INDArray gatherRows(INDArray table, int[] ids) {
        return Nd4j.pullRows(table, 1, ids);
    }

    @Override
    public void scatterAddRows(INDArray table, int[] ids, INDArray rows) {
        // scatter_add writes a new array in M2.1 (not the ref in place), so copy its result back.
        INDArray[] summed = Nd4j.exec(new ScatterAdd(table, Nd4j.createFromArray(ids), rows));
        if (summed[0] != table) {
            table.assign(summed[0]);
        }
    }

    @Override
    public INDArray splitHeads(INDArray qkv, int which, int batch, int time, int heads, int headSize) {
        long parts = qkv.columns() / ((long) heads * headSize);
        return qkv.reshape('c', batch, time, parts, heads, headSize).get(NDArrayIndex.all(), NDArrayIndex.all(),
                NDArrayIndex.point(which), NDArrayIndex.all(), NDArrayIndex.all()).permute(0, 2, 1, 3).dup('c');
    }

    @Override
    public void mergeHeads(INDArray y, INDArray out, int which) {
        long[] s = y.shape();
        long parts = out.columns() / (s[1] * s[3]);
        INDArray view = out.reshape('c', s[0], s[2], parts, s[1], s[3]);
        view.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.point(which), NDArrayIndex.all(),
                NDArrayIndex.all()).assign(y.permute(0, 2, 1, 3));
    }
}
