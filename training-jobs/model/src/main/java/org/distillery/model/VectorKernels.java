package org.distillery.model;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * {@link JavaKernels} with the hot loops written on the JDK's Vector API: the vocabulary softmax of
 * the loss, GELU, SwiGLU, LayerNorm, the attention softmax, bias sums and AdamW run as SIMD over the
 * arrays' native memory. Sums run in vector lanes, so results differ from the scalar engine's in the last
 * bits, never in more.
 *
 * <p>Every result is the same before and after the JIT compiles a kernel, so a job gives the same bits
 * on any executor, however warm its JVM: exp is {@link FastExp}'s polynomial on vectors, operation for
 * operation (the JDK's lanewise EXP and TANH are StrictMath's per lane when interpreted and SVML's once
 * compiled, which differ in the last bit), and lanes are summed by a fixed tree ({@code reduceLanes(ADD)}
 * adds them in one order interpreted and another compiled).
 *
 * <p>How the code is written keeps C2 compiling it to SIMD on Java 17 (docs/findings.md, "The engine's
 * lost third"): no vector is passed to or returned from a method of ours, since C2 stops inlining our
 * methods once a compilation grows past its node budget (NodeCountInliningCutoff, which the Vector API's
 * deep call chains reach quickly), and a vector crossing a call that is not inlined is boxed and runs the
 * API's Java fallback, several times slower. The JDK's own vector methods are force-inlined and escape that
 * budget. exp therefore runs over spans ({@link #exp(ByteBuffer, int, ByteBuffer, int, int, float, float)}),
 * never a float-to-int {@code convert} (a per-lane Java loop on AVX2 under Java 17), and every
 * reinterpretation names its species. {@code VectorCompilationTest} fails when a kernel falls back.
 *
 * <p>The Vector API is an incubator module in Java 17: the JVM needs
 * {@code --add-modules=jdk.incubator.vector}, which bin/distillery, the tests and the Spark launchers
 * pass. Without it {@link #available()} is false and {@link JavaKernels} runs instead.
 */
final class VectorKernels extends JavaKernels {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    /** The int lanes of {@link #S}'s shape: a reinterpretation names it ({@code reinterpretAsFloats()} looks
     * the species up at run time, which C2 does not fold into a constant). */
    private static final VectorSpecies<Integer> SI = IntVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    private static final int F = Float.BYTES;
    private static final ByteOrder NATIVE = ByteOrder.nativeOrder();
    /** Each level of the lane-sum tree: lane i takes lane i ^ d, d = L/2, L/4, ..., 1; lane 0 ends with the sum. */
    private static final VectorShuffle<Float>[] TREE = tree();
    /** The exp kernel's span: its scratch (GELU's, SwiGLU's) stays in the first-level cache. */
    private static final int BLOCK = 1024;

    /** Whether this JVM resolved the Vector API module (the class must not be loaded otherwise). */
    static boolean available() {
        return ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();
    }

    @SuppressWarnings("unchecked")
    private static VectorShuffle<Float>[] tree() {
        VectorShuffle<Float>[] levels = new VectorShuffle[Integer.numberOfTrailingZeros(L)];
        for (int k = 0; k < levels.length; k++) {
            int d = L >> (k + 1);
            levels[k] = VectorShuffle.fromOp(S, i -> i ^ d);
        }
        return levels;
    }

    /** The array's bytes, native order, starting at its first value. */
    private static ByteBuffer bytes(INDArray a) {
        contiguous(a);
        return a.data().asNio().slice((int) a.offset() * F, (int) a.length() * F).order(NATIVE);
    }

    private static float get(ByteBuffer b, int index) {
        return b.getFloat(index * F);
    }

    private static void put(ByteBuffer b, int index, float v) {
        b.putFloat(index * F, v);
    }

    /**
     * {@code out[outAt + i] = exp(scale · in[inAt + i] - shift)} for i in [0, n) ({@code out} may be {@code in});
     * returns the values' sum: lanes by the fixed tree, then the tail in order. Each lane is {@link FastExp#exp}'s
     * bits, its operations in its order: float adds and multiplies, min and max, integer shifts. The loop stores
     * unconditionally and leaves the tail to {@link #expTail}: C2 on Java 17 compiled the store of a variant with
     * an optional output to the API's Java fallback in some processes and not others.
     */
    static float exp(ByteBuffer in, int inAt, ByteBuffer out, int outAt, int n, float scale, float shift) {
        int bound = S.loopBound(n);
        FloatVector acc = FloatVector.zero(S);
        for (int i = 0; i < bound; i += L) {
            FloatVector x = FloatVector.fromByteBuffer(S, in, F * (inAt + i), NATIVE).mul(scale).sub(shift)
                    .max(FastExp.MIN_ARG).min(FastExp.MAX_ARG);
            FloatVector y = x.mul(FastExp.LOG2E).add(FastExp.ROUNDER);
            FloatVector m = y.sub(FastExp.ROUNDER);
            FloatVector r = x.sub(m.mul(FastExp.LN2_HI)).sub(m.mul(FastExp.LN2_LO));
            FloatVector p = r.mul(FastExp.P0).add(FastExp.P1).mul(r).add(FastExp.P2).mul(r).add(FastExp.P3)
                    .mul(r).add(FastExp.P4).mul(r).add(FastExp.P5);
            p = p.mul(r).mul(r).add(r).add(1f);
            IntVector e = ((IntVector) y.reinterpretShape(SI, 0)).sub(FastExp.ROUNDER_BITS);
            IntVector h = e.lanewise(VectorOperators.ASHR, 1);
            FloatVector low = (FloatVector) h.add(127).lanewise(VectorOperators.LSHL, 23).reinterpretShape(S, 0);
            FloatVector high = (FloatVector) e.sub(h).add(127).lanewise(VectorOperators.LSHL, 23)
                    .reinterpretShape(S, 0);
            FloatVector v = p.mul(low).mul(high);
            v.intoByteBuffer(out, F * (outAt + i), NATIVE);
            acc = acc.add(v);
        }
        for (VectorShuffle<Float> level : TREE) {
            acc = acc.add(acc.rearrange(level));
        }
        return expTail(in, inAt, out, outAt, bound, n, scale, shift, acc.lane(0));
    }

    /** {@link #exp}'s values [from, n) with the scalar exp, added to {@code sum} in order. */
    private static float expTail(ByteBuffer in, int inAt, ByteBuffer out, int outAt, int from, int n, float scale,
                                 float shift, float sum) {
        for (int i = from; i < n; i++) {
            float v = FastExp.exp(scale * get(in, inAt + i) - shift);
            put(out, outAt + i, v);
            sum += v;
        }
        return sum;
    }

    // Loops run whole vectors up to S.loopBound and finish the tail with scalars: Java 17 does not
    // compile masked vector loads and stores to SIMD, and falls back to something far slower.

    @Override
    void addRange(INDArray x, INDArray y, int from, int to) {
        ByteBuffer xs = bytes(x);
        ByteBuffer ys = bytes(y);
        int bound = from + S.loopBound(to - from);
        for (int i = from; i < bound; i += L) {
            FloatVector.fromByteBuffer(S, xs, F * i, NATIVE).add(FloatVector.fromByteBuffer(S, ys, F * i, NATIVE))
                    .intoByteBuffer(xs, F * i, NATIVE);
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
                FloatVector.fromByteBuffer(S, ys, F * (o + j), NATIVE)
                        .add(FloatVector.fromByteBuffer(S, b, F * j, NATIVE)).intoByteBuffer(ys, F * (o + j), NATIVE);
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
        int len = (int) params.length();
        int vectors = len / L;
        rows(vectors, L, (from, to) -> {
            FloatVector zero = FloatVector.zero(S); // made here: a captured vector would cross into the lambda
            for (int i = from * L; i < to * L; i += L) {
                FloatVector gi = FloatVector.fromByteBuffer(S, g, F * i, NATIVE).mul(scale);
                zero.intoByteBuffer(g, F * i, NATIVE);
                FloatVector mi = FloatVector.fromByteBuffer(S, ms, F * i, NATIVE).mul(b1).add(gi.mul(1 - b1));
                FloatVector vi = FloatVector.fromByteBuffer(S, vs, F * i, NATIVE).mul(b2).add(gi.mul(gi).mul(1 - b2));
                mi.intoByteBuffer(ms, F * i, NATIVE);
                vi.intoByteBuffer(vs, F * i, NATIVE);
                FloatVector step = mi.div(c1).div(vi.div(c2).sqrt().add(eps));
                FloatVector shrink = FloatVector.fromByteBuffer(S, mask, F * i, NATIVE).mul(-decay).add(1f);
                FloatVector.fromByteBuffer(S, p, F * i, NATIVE).mul(shrink).sub(step.mul(lr))
                        .intoByteBuffer(p, F * i, NATIVE);
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
                    vs = vs.add(FloatVector.fromByteBuffer(S, xs, F * (o + j), NATIVE));
                }
                for (VectorShuffle<Float> level : TREE) {
                    vs = vs.add(vs.rearrange(level));
                }
                float sum = vs.lane(0);
                for (; j < c; j++) {
                    sum += get(xs, o + j);
                }
                float mean = sum / c;
                FloatVector vq = FloatVector.zero(S);
                for (j = 0; j < bound; j += L) {
                    FloatVector d = FloatVector.fromByteBuffer(S, xs, F * (o + j), NATIVE).sub(mean);
                    vq = d.fma(d, vq);
                }
                for (VectorShuffle<Float> level : TREE) {
                    vq = vq.add(vq.rearrange(level));
                }
                float sq = vq.lane(0);
                for (; j < c; j++) {
                    float d = get(xs, o + j) - mean;
                    sq += d * d;
                }
                float inv = (float) (1.0 / Math.sqrt(sq / c + GptConfig.LN_EPS));
                put(rs, r, inv);
                for (j = 0; j < bound; j += L) {
                    FloatVector h = FloatVector.fromByteBuffer(S, xs, F * (o + j), NATIVE).sub(mean).mul(inv);
                    h.intoByteBuffer(hs, F * (o + j), NATIVE);
                    FloatVector gj = FloatVector.fromByteBuffer(S, g, F * j, NATIVE);
                    h.fma(gj, FloatVector.fromByteBuffer(S, b, F * j, NATIVE)).intoByteBuffer(ys, F * (o + j), NATIVE);
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
                    FloatVector dxh = FloatVector.fromByteBuffer(S, d, F * (o + j), NATIVE)
                            .mul(FloatVector.fromByteBuffer(S, g, F * j, NATIVE));
                    s1 = s1.add(dxh);
                    s2 = dxh.fma(FloatVector.fromByteBuffer(S, h, F * (o + j), NATIVE), s2);
                }
                for (VectorShuffle<Float> level : TREE) {
                    s1 = s1.add(s1.rearrange(level));
                }
                float m1 = s1.lane(0);
                for (VectorShuffle<Float> level : TREE) {
                    s2 = s2.add(s2.rearrange(level));
                }
                float m2 = s2.lane(0);
                for (; j < c; j++) {
                    float dxh = get(d, o + j) * get(g, j);
                    m1 += dxh;
                    m2 += dxh * get(h, o + j);
                }
                m1 /= c;
                m2 /= c;
                float inv = get(rs, r);
                for (j = 0; j < bound; j += L) {
                    FloatVector dxh = FloatVector.fromByteBuffer(S, d, F * (o + j), NATIVE)
                            .mul(FloatVector.fromByteBuffer(S, g, F * j, NATIVE));
                    FloatVector v = dxh.sub(m1).sub(FloatVector.fromByteBuffer(S, h, F * (o + j), NATIVE).mul(m2))
                            .mul(inv);
                    (accumulate ? v.add(FloatVector.fromByteBuffer(S, out, F * (o + j), NATIVE)) : v)
                            .intoByteBuffer(out, F * (o + j), NATIVE);
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
                FloatVector v = FloatVector.fromByteBuffer(S, ds, F * (o + j), NATIVE);
                v.add(FloatVector.fromArray(S, acc, j)).intoArray(acc, j);
                if (hs != null) {
                    v.fma(FloatVector.fromByteBuffer(S, hs, F * (o + j), NATIVE), FloatVector.fromArray(S, hAcc, j))
                            .intoArray(hAcc, j);
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
                FloatVector v = FloatVector.fromByteBuffer(S, xs, F * i, NATIVE);
                acc = v.fma(v, acc);
            }
            for (VectorShuffle<Float> level : TREE) {
                acc = acc.add(acc.rearrange(level));
            }
            sum += acc.lane(0);
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
                exp(gu, g, o, y, inter, -1f, 0f); // exp(-v) into the output row, then v / (1 + exp(-v)) * up
                int i = 0;
                for (; i < bound; i += L) {
                    FloatVector v = FloatVector.fromByteBuffer(S, gu, F * (g + i), NATIVE);
                    FloatVector e = FloatVector.fromByteBuffer(S, o, F * (y + i), NATIVE);
                    FloatVector up = FloatVector.fromByteBuffer(S, gu, F * (g + inter + i), NATIVE);
                    v.div(e.add(1f)).mul(up).intoByteBuffer(o, F * (y + i), NATIVE);
                }
                for (; i < inter; i++) {
                    put(o, y + i, get(gu, g + i) / (get(o, y + i) + 1f) * get(gu, g + inter + i));
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
                exp(gu, g, dgu, g, inter, -1f, 0f); // exp(-v) into the gate's gradient row, read back below
                int i = 0;
                for (; i < bound; i += L) { // silu = v s, silu' = s (1 + v (1 - s)), s the sigmoid
                    FloatVector v = FloatVector.fromByteBuffer(S, gu, F * (g + i), NATIVE);
                    FloatVector e = FloatVector.fromByteBuffer(S, dgu, F * (g + i), NATIVE);
                    FloatVector sig = FloatVector.broadcast(S, 1f).div(e.add(1f));
                    FloatVector dv = FloatVector.fromByteBuffer(S, d, F * (y + i), NATIVE);
                    FloatVector up = FloatVector.fromByteBuffer(S, gu, F * (g + inter + i), NATIVE);
                    dv.mul(up).mul(sig).mul(sig.neg().add(1f).mul(v).add(1f)).intoByteBuffer(dgu, F * (g + i), NATIVE);
                    dv.mul(v).mul(sig).intoByteBuffer(dgu, F * (g + inter + i), NATIVE);
                }
                for (; i < inter; i++) {
                    float v = get(gu, g + i);
                    float sig = 1f / (get(dgu, g + i) + 1f);
                    float dv = get(d, y + i);
                    put(dgu, g + i, dv * get(gu, g + inter + i) * sig * (1f + v * (1f - sig)));
                    put(dgu, g + inter + i, dv * v * sig);
                }
            }
        });
    }

    /**
     * In blocks: 2u = 2K (x + C x^3) into th, exp of it in place, then tanh(u) = 1 - 2 / (exp(2u) + 1) into th
     * and GELU into y: the same operations as {@link JavaKernels}' tanh, the exp in {@link #exp}'s kernel.
     */
    @Override
    void geluRange(INDArray x, INDArray y, INDArray th, int from, int to) {
        ByteBuffer xs = bytes(x);
        ByteBuffer ys = bytes(y);
        ByteBuffer ts = bytes(th);
        int bound = from + S.loopBound(to - from);
        for (int start = from; start < bound; start += BLOCK) {
            int end = Math.min(bound, start + BLOCK);
            for (int i = start; i < end; i += L) {
                FloatVector v = FloatVector.fromByteBuffer(S, xs, F * i, NATIVE);
                v.mul(v).mul(C).fma(v, v).mul(K).mul(2f).intoByteBuffer(ts, F * i, NATIVE);
            }
            exp(ts, start, ts, start, end - start, 1f, 0f);
            for (int i = start; i < end; i += L) {
                FloatVector e = FloatVector.fromByteBuffer(S, ts, F * i, NATIVE);
                FloatVector t = FloatVector.broadcast(S, 1f).sub(FloatVector.broadcast(S, 2f).div(e.add(1f)));
                t.intoByteBuffer(ts, F * i, NATIVE);
                t.add(1f).mul(FloatVector.fromByteBuffer(S, xs, F * i, NATIVE)).mul(0.5f)
                        .intoByteBuffer(ys, F * i, NATIVE);
            }
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
            FloatVector v = FloatVector.fromByteBuffer(S, xs, F * i, NATIVE);
            FloatVector t = FloatVector.fromByteBuffer(S, ts, F * i, NATIVE);
            // 0.5 (1 + t) + 0.5 x (1 - t^2) K (1 + 3 C x^2)
            FloatVector inner = v.mul(v).mul(3 * C).add(1f).mul(0.5f * K).mul(v);
            FloatVector grad = t.mul(t).neg().add(1f).mul(inner).add(t.add(1f).mul(0.5f));
            FloatVector.fromByteBuffer(S, ds, F * i, NATIVE).mul(grad).intoByteBuffer(ds, F * i, NATIVE);
        }
        geluBackwardSpan(buffer(dy), buffer(x), buffer(th), bound, to);
    }

    /** The seen part of each row through {@link #exp}'s kernel, in place; the masked-out tail is zeroed. */
    @Override
    void causalSoftmaxRows(INDArray scores, int from, int to, int time, float sc) {
        ByteBuffer s = bytes(scores);
        for (int r = from; r < to; r++) {
            int o = r * time;
            int seen = r % time + 1;
            float max = Float.NEGATIVE_INFINITY;
            for (int j = 0; j < seen; j++) {
                max = Math.max(max, get(s, o + j) * sc);
            }
            float inv = 1f / exp(s, o, s, o, seen, sc, max);
            for (int j = 0; j < seen; j++) {
                put(s, o + j, get(s, o + j) * inv);
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
                vdot = FloatVector.fromByteBuffer(S, p, F * (o + j), NATIVE)
                        .fma(FloatVector.fromByteBuffer(S, d, F * (o + j), NATIVE), vdot);
            }
            for (VectorShuffle<Float> level : TREE) {
                vdot = vdot.add(vdot.rearrange(level));
            }
            float dot = vdot.lane(0);
            for (; j < t; j++) {
                dot += get(p, o + j) * get(d, o + j);
            }
            for (j = 0; j < bound; j += L) {
                FloatVector.fromByteBuffer(S, d, F * (o + j), NATIVE).sub(dot)
                        .mul(FloatVector.fromByteBuffer(S, p, F * (o + j), NATIVE)).mul(sc)
                        .intoByteBuffer(d, F * (o + j), NATIVE);
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
        ByteBuffer o = out == null ? null : bytes(out);
        double[] lse = new double[n];
        rows(n, v, (from, to) -> {
            ByteBuffer scratch = o == null ? ByteBuffer.allocateDirect(v * F).order(NATIVE) : null;
            for (int r = from; r < to; r++) {
                lse[r] = softmaxRow(in, o, scratch, r * v, v, scale, 1f);
            }
        });
        return lse;
    }

    /**
     * {@code out[base, base + v) = outScale · softmax(scale · in[base, base + v))} ({@code out} may be {@code in});
     * with no {@code out}, the exps go to {@code scratch[0, v)} for their sum alone. Returns the row's log-sum-exp
     * of {@code scale · in}.
     */
    private static double softmaxRow(ByteBuffer in, ByteBuffer out, ByteBuffer scratch, int base, int v, float scale,
                                     float outScale) {
        int bound = S.loopBound(v);
        FloatVector vmax = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
        int j = 0;
        for (; j < bound; j += L) {
            vmax = vmax.max(FloatVector.fromByteBuffer(S, in, F * (base + j), NATIVE).mul(scale));
        }
        float max = vmax.reduceLanes(VectorOperators.MAX);
        for (; j < v; j++) {
            max = Math.max(max, get(in, base + j) * scale);
        }
        if (out == null) {
            return max + Math.log(exp(in, base, scratch, 0, v, scale, max));
        }
        double sum = exp(in, base, out, base, v, scale, max);
        float norm = (float) (outScale / sum);
        for (j = 0; j < bound; j += L) {
            FloatVector.fromByteBuffer(S, out, F * (base + j), NATIVE).mul(norm)
                    .intoByteBuffer(out, F * (base + j), NATIVE);
        }
        for (; j < v; j++) {
            put(out, base + j, get(out, base + j) * norm);
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
            ByteBuffer scratch = g == null ? ByteBuffer.allocateDirect(v * F).order(NATIVE) : null;
            for (int r = from; r < to; r++) {
                int o = r * v;
                float target = get(l, o + targets[r]); // before the gradient overwrites it: grad may be logits
                rowLoss[r] = softmaxRow(l, g, scratch, o, v, 1f, perRow) - target;
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
