package org.distillery.model;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * {@link JavaKernels} with the hot loops written on the JDK's Vector API: the vocabulary softmax of
 * the loss, GELU, LayerNorm, the attention softmax, bias sums and AdamW run as SIMD over the arrays'
 * native memory. Sums run in vector lanes, so results differ from the scalar engine's in the last
 * bits, never in more.
 *
 * <p>Every result is the same before and after the JIT compiles a kernel, so a job gives the same bits
 * on any executor, however warm its JVM: exp and tanh are {@link FastExp}'s polynomial on vectors, operation
 * for operation (the JDK's lanewise EXP and TANH are StrictMath's per lane when interpreted and SVML's
 * once compiled, which differ in the last bit), and lanes are summed in lane order ({@code reduceLanes(ADD)}
 * adds them in one order interpreted and another compiled).
 *
 * <p>The Vector API is an incubator module in Java 17: the JVM needs
 * {@code --add-modules=jdk.incubator.vector}, which bin/distillery, the tests and the Spark launchers
 * pass. Without it {@link #available()} is false and {@link JavaKernels} runs instead.
 */
final class VectorKernels extends JavaKernels {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    private static final ByteOrder NATIVE = ByteOrder.nativeOrder();

    /** Whether this JVM resolved the Vector API module (the class must not be loaded otherwise). */
    static boolean available() {
        return ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();
    }

    /** The array's bytes, native order, starting at its first value. */
    private static ByteBuffer bytes(INDArray a) {
        contiguous(a);
        return a.data().asNio().slice((int) a.offset() * Float.BYTES, (int) a.length() * Float.BYTES).order(NATIVE);
    }

    private static FloatVector load(ByteBuffer b, int index) {
        return FloatVector.fromByteBuffer(S, b, index * Float.BYTES, NATIVE);
    }

    private static void store(FloatVector v, ByteBuffer b, int index) {
        v.intoByteBuffer(b, index * Float.BYTES, NATIVE);
    }

    private static float get(ByteBuffer b, int index) {
        return b.getFloat(index * Float.BYTES);
    }

    private static void put(ByteBuffer b, int index, float v) {
        b.putFloat(index * Float.BYTES, v);
    }

    /** The lanes' sum, in lane order: the same whether or not C2 has compiled the caller. */
    private static float sum(FloatVector v) {
        float[] lanes = new float[L];
        v.intoArray(lanes, 0);
        float s = 0f;
        for (float x : lanes) {
            s += x;
        }
        return s;
    }

    /** {@link FastExp#exp} in every lane, bit for bit: the same operations in the same order. */
    static FloatVector exp(FloatVector x) {
        VectorMask<Float> under = x.lt(FastExp.MIN_ARG);
        VectorMask<Float> over = x.compare(VectorOperators.GT, FastExp.MAX_ARG);
        FloatVector xc = x.max(FastExp.MIN_ARG).min(FastExp.MAX_ARG); // lanes outside are replaced below
        FloatVector t = xc.mul(FastExp.LOG2E).add(0.5f);
        FloatVector n = (FloatVector) t.convert(VectorOperators.F2I, 0).convert(VectorOperators.I2F, 0);
        n = n.sub(1f, n.compare(VectorOperators.GT, t)); // truncation to floor
        FloatVector r = xc.sub(n.mul(FastExp.LN2_HI)).sub(n.mul(FastExp.LN2_LO));
        FloatVector p = FloatVector.broadcast(S, FastExp.P[0]);
        for (int i = 1; i < FastExp.P.length; i++) {
            p = p.mul(r).add(FastExp.P[i]);
        }
        p = p.mul(r).mul(r).add(r).add(1f);
        IntVector e = (IntVector) n.convert(VectorOperators.F2I, 0);
        VectorMask<Integer> top = e.compare(VectorOperators.GT, 127);
        p = p.blend(p.mul(2f), top.cast(S)); // 2^128 is not a float: scale by 2 first, as FastExp does
        FloatVector pow2 = e.sub(1, top).add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
        return p.mul(pow2).blend(0f, under).blend(Float.POSITIVE_INFINITY, over);
    }

    /** {@link JavaKernels}' tanh, {@code 1 - 2 / (exp(2u) + 1)}, in every lane. */
    private static FloatVector tanh(FloatVector u) {
        FloatVector two = FloatVector.broadcast(S, 2f);
        return FloatVector.broadcast(S, 1f).sub(two.div(exp(u.mul(2f)).add(1f)));
    }

    // Loops run whole vectors up to S.loopBound and finish the tail with scalars: Java 17 does not
    // compile masked vector loads and stores to SIMD, and falls back to something far slower.

    @Override
    void addRange(INDArray x, INDArray y, int from, int to) {
        ByteBuffer xs = bytes(x);
        ByteBuffer ys = bytes(y);
        int bound = from + S.loopBound(to - from);
        for (int i = from; i < bound; i += L) {
            store(load(xs, i).add(load(ys, i)), xs, i);
        }
        addSpan(buffer(x), buffer(y), bound, to);
    }

    @Override
    void addBiasBlock(INDArray y, INDArray bias, int rowFrom, int rowTo, int colFrom, int colTo) {
        if (bias == null) {
            return;
        }
        int c = (int) y.columns();
        ByteBuffer ys = bytes(y);
        ByteBuffer b = bytes(bias);
        int bound = colFrom + S.loopBound(colTo - colFrom);
        for (int r = rowFrom; r < rowTo; r++) {
            int o = r * c;
            int j = colFrom;
            for (; j < bound; j += L) {
                store(load(ys, o + j).add(load(b, j)), ys, o + j);
            }
            for (; j < colTo; j++) {
                put(ys, o + j, get(ys, o + j) + get(b, j));
            }
        }
    }

    @Override
    public void adamW(INDArray params, INDArray grads, INDArray m, INDArray v, INDArray decayMask, AdamW.Update u) {
        ByteBuffer p = bytes(params);
        ByteBuffer g = bytes(grads);
        ByteBuffer ms = bytes(m);
        ByteBuffer vs = bytes(v);
        ByteBuffer mask = bytes(decayMask);
        float b1 = (float) u.beta1();
        float b2 = (float) u.beta2();
        float c1 = (float) u.c1();
        float c2 = (float) u.c2();
        float eps = (float) u.eps();
        float lr = (float) u.lr();
        float decay = (float) (u.lr() * u.weightDecay());
        float scale = (float) u.gradScale();
        FloatVector zero = FloatVector.zero(S);
        int len = (int) params.length();
        int vectors = len / L;
        rows(vectors, L, (from, to) -> {
            for (int i = from * L; i < to * L; i += L) {
                FloatVector gi = load(g, i).mul(scale);
                store(zero, g, i);
                FloatVector mi = load(ms, i).mul(b1).add(gi.mul(1 - b1));
                FloatVector vi = load(vs, i).mul(b2).add(gi.mul(gi).mul(1 - b2));
                store(mi, ms, i);
                store(vi, vs, i);
                FloatVector step = mi.div(c1).div(vi.div(c2).sqrt().add(eps));
                FloatVector shrink = load(mask, i).mul(-decay).add(1f);
                store(load(p, i).mul(shrink).sub(step.mul(lr)), p, i);
            }
        });
        adamWSpan(u, buffer(params), buffer(grads), buffer(m), buffer(v), buffer(decayMask), vectors * L, len);
    }

    @Override
    public void layerNorm(INDArray x, INDArray gain, INDArray bias, INDArray y, INDArray xhat, INDArray rstd) {
        int n = (int) x.rows();
        int c = (int) x.columns();
        ByteBuffer xs = bytes(x);
        ByteBuffer g = bytes(gain);
        ByteBuffer b = bytes(bias);
        ByteBuffer ys = bytes(y);
        ByteBuffer hs = bytes(xhat);
        ByteBuffer rs = bytes(rstd);
        int bound = S.loopBound(c);
        rows(n, c, (from, to) -> {
            for (int r = from; r < to; r++) {
                int o = r * c;
                FloatVector vs = FloatVector.zero(S);
                int j = 0;
                for (; j < bound; j += L) {
                    vs = vs.add(load(xs, o + j));
                }
                float sum = sum(vs);
                for (; j < c; j++) {
                    sum += get(xs, o + j);
                }
                float mean = sum / c;
                FloatVector vq = FloatVector.zero(S);
                for (j = 0; j < bound; j += L) {
                    FloatVector d = load(xs, o + j).sub(mean);
                    vq = d.fma(d, vq);
                }
                float sq = sum(vq);
                for (; j < c; j++) {
                    float d = get(xs, o + j) - mean;
                    sq += d * d;
                }
                float inv = (float) (1.0 / Math.sqrt(sq / c + GptConfig.LN_EPS));
                put(rs, r, inv);
                for (j = 0; j < bound; j += L) {
                    FloatVector h = load(xs, o + j).sub(mean).mul(inv);
                    store(h, hs, o + j);
                    store(h.fma(load(g, j), load(b, j)), ys, o + j);
                }
                for (; j < c; j++) {
                    float h = (get(xs, o + j) - mean) * inv;
                    put(hs, o + j, h);
                    put(ys, o + j, h * get(g, j) + get(b, j));
                }
            }
        });
    }

    @Override
    public void layerNormBackward(INDArray dy, INDArray xhat, INDArray rstd, INDArray gain, INDArray dgain,
                                  INDArray dbias, INDArray dx, boolean accumulate) {
        int n = (int) dy.rows();
        int c = (int) dy.columns();
        ByteBuffer d = bytes(dy);
        ByteBuffer h = bytes(xhat);
        ByteBuffer rs = bytes(rstd);
        ByteBuffer g = bytes(gain);
        ByteBuffer out = bytes(dx);
        int bound = S.loopBound(c);
        rows(n, c, (from, to) -> {
            for (int r = from; r < to; r++) {
                int o = r * c;
                FloatVector s1 = FloatVector.zero(S);
                FloatVector s2 = FloatVector.zero(S);
                int j = 0;
                for (; j < bound; j += L) {
                    FloatVector dxh = load(d, o + j).mul(load(g, j));
                    s1 = s1.add(dxh);
                    s2 = dxh.fma(load(h, o + j), s2);
                }
                float m1 = sum(s1);
                float m2 = sum(s2);
                for (; j < c; j++) {
                    float dxh = get(d, o + j) * get(g, j);
                    m1 += dxh;
                    m2 += dxh * get(h, o + j);
                }
                m1 /= c;
                m2 /= c;
                float inv = get(rs, r);
                for (j = 0; j < bound; j += L) {
                    FloatVector dxh = load(d, o + j).mul(load(g, j));
                    FloatVector v = dxh.sub(m1).sub(load(h, o + j).mul(m2)).mul(inv);
                    store(accumulate ? v.add(load(out, o + j)) : v, out, o + j);
                }
                for (; j < c; j++) {
                    float v = (get(d, o + j) * get(g, j) - m1 - get(h, o + j) * m2) * inv;
                    put(out, o + j, accumulate ? get(out, o + j) + v : v);
                }
            }
        });
        columnSums(dy, xhat, dgain, dbias);
    }

    @Override
    void columnSumsBand(INDArray d, INDArray h, INDArray hSums, INDArray sums, int from, int to) {
        int n = (int) d.rows();
        int c = (int) d.columns();
        int w = to - from;
        ByteBuffer ds = bytes(d);
        ByteBuffer hs = h == null ? null : bytes(h);
        float[] acc = new float[w];
        float[] hAcc = new float[w];
        int bound = S.loopBound(w);
        for (int r = 0; r < n; r++) {
            int o = r * c + from;
            int j = 0;
            for (; j < bound; j += L) {
                FloatVector v = load(ds, o + j);
                v.add(FloatVector.fromArray(S, acc, j)).intoArray(acc, j);
                if (hs != null) {
                    v.fma(load(hs, o + j), FloatVector.fromArray(S, hAcc, j)).intoArray(hAcc, j);
                }
            }
            for (; j < w; j++) {
                float v = get(ds, o + j);
                acc[j] += v;
                if (hs != null) {
                    hAcc[j] += v * get(hs, o + j);
                }
            }
        }
        addInto(sums, from, acc);
        if (hs != null) {
            addInto(hSums, from, hAcc);
        }
    }

    /** Lanes sum a block of values in float, blocks add up in double: a gradient norm of millions of values. */
    @Override
    double sumOfSquaresSpan(INDArray x, int from, int to) {
        ByteBuffer xs = bytes(x);
        double sum = 0;
        int i = from;
        int bound = from + S.loopBound(to - from);
        while (i < bound) {
            FloatVector acc = FloatVector.zero(S);
            int blockEnd = Math.min(bound, i + 1024 * L);
            for (; i < blockEnd; i += L) {
                FloatVector v = load(xs, i);
                acc = v.fma(v, acc);
            }
            sum += sum(acc);
        }
        for (; i < to; i++) {
            float v = get(xs, i);
            sum += v * v;
        }
        return sum;
    }

    @Override
    public void swiglu(INDArray gateUp, INDArray out) {
        ByteBuffer gu = bytes(gateUp);
        ByteBuffer o = bytes(out);
        int inter = (int) out.columns();
        int bound = S.loopBound(inter);
        rows((int) out.rows(), inter, (lo, hi) -> {
            for (int r = lo; r < hi; r++) {
                int g = 2 * r * inter;
                int y = r * inter;
                int i = 0;
                for (; i < bound; i += L) {
                    FloatVector v = load(gu, g + i);
                    store(v.div(exp(v.neg()).add(1f)).mul(load(gu, g + inter + i)), o, y + i);
                }
                for (; i < inter; i++) {
                    float v = get(gu, g + i);
                    put(o, y + i, v / (1f + FastExp.exp(-v)) * get(gu, g + inter + i));
                }
            }
        });
    }

    @Override
    public void swigluBackward(INDArray dout, INDArray gateUp, INDArray dgateUp) {
        ByteBuffer d = bytes(dout);
        ByteBuffer gu = bytes(gateUp);
        ByteBuffer dgu = bytes(dgateUp);
        int inter = (int) dout.columns();
        int bound = S.loopBound(inter);
        rows((int) dout.rows(), inter, (lo, hi) -> {
            for (int r = lo; r < hi; r++) {
                int g = 2 * r * inter;
                int y = r * inter;
                int i = 0;
                for (; i < bound; i += L) { // silu = v s, silu' = s (1 + v (1 - s)), s the sigmoid
                    FloatVector v = load(gu, g + i);
                    FloatVector sig = FloatVector.broadcast(S, 1f).div(exp(v.neg()).add(1f));
                    FloatVector dv = load(d, y + i);
                    store(dv.mul(load(gu, g + inter + i)).mul(sig).mul(sig.neg().add(1f).mul(v).add(1f)), dgu, g + i);
                    store(dv.mul(v).mul(sig), dgu, g + inter + i);
                }
                for (; i < inter; i++) {
                    float v = get(gu, g + i);
                    float sig = 1f / (1f + FastExp.exp(-v));
                    float dv = get(d, y + i);
                    put(dgu, g + i, dv * get(gu, g + inter + i) * sig * (1f + v * (1f - sig)));
                    put(dgu, g + inter + i, dv * v * sig);
                }
            }
        });
    }

    @Override
    void geluRange(INDArray x, INDArray y, INDArray th, int from, int to) {
        ByteBuffer xs = bytes(x);
        ByteBuffer ys = bytes(y);
        ByteBuffer ts = bytes(th);
        int bound = from + S.loopBound(to - from);
        for (int i = from; i < bound; i += L) {
            FloatVector v = load(xs, i);
            FloatVector t = v.mul(v).mul(C).fma(v, v).mul(K);
            t = tanh(t);
            store(t, ts, i);
            store(t.add(1f).mul(v).mul(0.5f), ys, i);
        }
        geluSpan(buffer(x), buffer(y), buffer(th), bound, to);
    }

    @Override
    void geluBackwardRange(INDArray dy, INDArray x, INDArray th, int from, int to) {
        ByteBuffer ds = bytes(dy);
        ByteBuffer xs = bytes(x);
        ByteBuffer ts = bytes(th);
        int bound = from + S.loopBound(to - from);
        for (int i = from; i < bound; i += L) {
            FloatVector v = load(xs, i);
            FloatVector t = load(ts, i);
            // 0.5 (1 + t) + 0.5 x (1 - t^2) K (1 + 3 C x^2)
            FloatVector inner = v.mul(v).mul(3 * C).add(1f).mul(0.5f * K).mul(v);
            FloatVector grad = t.mul(t).neg().add(1f).mul(inner).add(t.add(1f).mul(0.5f));
            store(load(ds, i).mul(grad), ds, i);
        }
        geluBackwardSpan(buffer(dy), buffer(x), buffer(th), bound, to);
    }

    /**
     * The attention rows are short (T values, of which the first r mod T + 1 are seen), so only the
     * exp runs as vectors, over a scratch row; the masked-out tail is zeroed.
     */
    @Override
    void causalSoftmaxRows(INDArray scores, int from, int to, int time, float sc) {
        ByteBuffer s = bytes(scores);
        float[] row = new float[(time + L - 1) / L * L];
        for (int r = from; r < to; r++) {
            int o = r * time;
            int seen = r % time + 1;
            float max = Float.NEGATIVE_INFINITY;
            for (int j = 0; j < seen; j++) {
                row[j] = get(s, o + j) * sc;
                max = Math.max(max, row[j]);
            }
            int vecEnd = (seen + L - 1) / L * L;
            for (int j = 0; j < vecEnd; j += L) {
                exp(FloatVector.fromArray(S, row, j).sub(max)).intoArray(row, j);
            }
            float sum = 0;
            for (int j = 0; j < seen; j++) {
                sum += row[j];
            }
            float inv = 1f / sum;
            for (int j = 0; j < seen; j++) {
                put(s, o + j, row[j] * inv);
            }
            for (int j = seen; j < time; j++) {
                put(s, o + j, 0f);
            }
        }
    }

    @Override
    void softmaxBackwardRows(INDArray probs, INDArray dprobs, int from, int to, float sc) {
        int t = (int) probs.columns();
        ByteBuffer p = bytes(probs);
        ByteBuffer d = bytes(dprobs);
        int bound = S.loopBound(t);
        for (int r = from; r < to; r++) {
            int o = r * t;
            FloatVector vdot = FloatVector.zero(S);
            int j = 0;
            for (; j < bound; j += L) {
                vdot = load(p, o + j).fma(load(d, o + j), vdot);
            }
            float dot = sum(vdot);
            for (; j < t; j++) {
                dot += get(p, o + j) * get(d, o + j);
            }
            for (j = 0; j < bound; j += L) {
                store(load(d, o + j).sub(dot).mul(load(p, o + j)).mul(sc), d, o + j);
            }
            for (; j < t; j++) {
                put(d, o + j, get(p, o + j) * (get(d, o + j) - dot) * sc);
            }
        }
    }

    @Override
    public double[] softmaxRows(INDArray x, float scale, INDArray out) {
        int n = (int) x.rows();
        int v = (int) x.columns();
        ByteBuffer in = bytes(x);
        ByteBuffer o = bytes(out);
        double[] lse = new double[n];
        rows(n, v, (from, to) -> {
            for (int r = from; r < to; r++) {
                lse[r] = softmaxRow(in, o, r * v, v, scale, 1f);
            }
        });
        return lse;
    }

    /**
     * {@code out[base, base + v) = outScale · softmax(scale · in[base, base + v))} ({@code out} may be
     * {@code in}, or null for the sum alone); returns the row's log-sum-exp of {@code scale · in}.
     */
    private static double softmaxRow(ByteBuffer in, ByteBuffer out, int base, int v, float scale, float outScale) {
        int bound = S.loopBound(v);
        FloatVector vmax = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
        int j = 0;
        for (; j < bound; j += L) {
            vmax = vmax.max(load(in, base + j).mul(scale));
        }
        float max = vmax.reduceLanes(VectorOperators.MAX);
        for (; j < v; j++) {
            max = Math.max(max, get(in, base + j) * scale);
        }
        FloatVector vsum = FloatVector.zero(S);
        for (j = 0; j < bound; j += L) {
            FloatVector e = exp(load(in, base + j).mul(scale).sub(max));
            if (out != null) {
                store(e, out, base + j);
            }
            vsum = vsum.add(e);
        }
        double sum = sum(vsum);
        for (; j < v; j++) {
            float e = FastExp.exp(get(in, base + j) * scale - max);
            if (out != null) {
                put(out, base + j, e);
            }
            sum += e;
        }
        if (out != null) {
            float norm = (float) (outScale / sum);
            for (j = 0; j < bound; j += L) {
                store(load(out, base + j).mul(norm), out, base + j);
            }
            for (; j < v; j++) {
                put(out, base + j, get(out, base + j) * norm);
            }
        }
        return max + Math.log(sum);
    }

    @Override
    public double crossEntropy(INDArray logits, int[] targets, INDArray grad, double scale) {
        int n = (int) logits.rows();
        int v = (int) logits.columns();
        ByteBuffer l = bytes(logits);
        ByteBuffer g = grad == null ? null : bytes(grad);
        double[] rowLoss = new double[n];
        float perRow = (float) (scale / n);
        rows(n, v, (from, to) -> {
            for (int r = from; r < to; r++) {
                int o = r * v;
                float target = get(l, o + targets[r]); // before the gradient overwrites it: grad may be logits
                rowLoss[r] = softmaxRow(l, g, o, v, 1f, perRow) - target;
                if (g != null) {
                    put(g, o + targets[r], get(g, o + targets[r]) - perRow);
                }
            }
        });
        double loss = 0;
        for (double x : rowLoss) {
            loss += x;
        }
        return loss / n;
    }
}
