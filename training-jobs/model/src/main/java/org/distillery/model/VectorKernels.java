package org.distillery.model;

import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

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
    /*
     * C2 compiles a kernel to SIMD only while it knows each vector's class. It does not for a vector a loop carries
     * (a phi), a local where an on-stack replacement enters a loop, or any result past its node budget (about 30
     * vector operations in one compilation: later ones are inlined late, typed FloatVector). It then binds the
     * vector's calls by type profile, and a compilation that comes before the profile is complete keeps the call
     * and runs the API's Java fallback: the same build ran 88 or 111 ms a step. So a carried vector is only ever an
     * argument (v.add(acc)), leaves its loop as one (-0 + acc), kernels stay small, and a lane sum is scalar.
     */
    /** The exp kernel's span: its scratch (GELU's, SwiGLU's) stays in the first-level cache. */
    private static final int BLOCK = 1024;

    VectorKernels() {
        this(MatmulPrecision.FP32);
    }

    VectorKernels(MatmulPrecision products) {
        super(products);
    }

    @Override
    public Kernels withProducts(MatmulPrecision precision) {
        return precision == products() ? this : new VectorKernels(precision);
    }

    /** Whether this JVM resolved the Vector API module (the class must not be loaded otherwise). */
    static boolean available() {
        return ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();
    }

    /**
     * The lanes' sum by a fixed tree (lane i takes lane i + d for d = L/2, ..., 1): the same bits interpreted and
     * compiled, which {@code reduceLanes} does not promise. {@code lanes} holds L values and is overwritten.
     */
    private static float laneSum(float[] lanes) {
        for (int d = L / 2; d >= 1; d >>= 1) {
            for (int i = 0; i < d; i++) {
                lanes[i] += lanes[i + d];
            }
        }
        return lanes[0];
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
     * {@code out[outAt + i] = exp(scale · in[inAt + i] - shift)} for i in [0, n) ({@code out} may be {@code in}).
     * Each lane is {@link FastExp#exp}'s bits, its operations in its order: float adds and multiplies, min and max,
     * integer shifts; the tail is the scalar exp. The sum, where a caller needs one, is {@link #sum}'s.
     *
     * <p>The kernel runs in two halves over blocks, each half its own compilation, called through a handle C2 cannot
     * inline (one in a non-final field is not a constant): the exp written as one loop was two operations past C2's
     * node budget, its last operations were bound by type profile, and in some processes its store ran the API's
     * Java fallback. A half small enough to inline would be inlined into one compilation with the other.
     */
    static void exp(ByteBuffer in, int inAt, ByteBuffer out, int outAt, int n, float scale, float shift) {
        int bound = S.loopBound(n);
        ByteBuffer rounded = EXP_SCRATCH.get();
        try {
            for (int at = 0; at < bound; at += BLOCK) {
                int len = Math.min(BLOCK, bound - at);
                expReduceHalf.invokeExact(in, inAt + at, out, outAt + at, rounded, len, scale, shift);
                expScaleHalf.invokeExact(out, outAt + at, rounded, len);
            }
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable e) { // the halves throw nothing checked
            throw new IllegalStateException(e);
        }
        for (int i = bound; i < n; i++) {
            put(out, outAt + i, FastExp.exp(scale * get(in, inAt + i) - shift));
        }
    }

    /** A block of y = x log2(e) + 1.5·2^23 (n in its low bits), for {@link #expScale}. */
    private static final ThreadLocal<ByteBuffer> EXP_SCRATCH =
            ThreadLocal.withInitial(() -> ByteBuffer.allocateDirect(BLOCK * F).order(NATIVE));
    // Not final: C2 inlines a constant handle's target, and the halves must stay apart.
    private static MethodHandle expReduceHalf = half("expReduce", MethodType.methodType(void.class, ByteBuffer.class,
            int.class, ByteBuffer.class, int.class, ByteBuffer.class, int.class, float.class, float.class));
    private static MethodHandle expScaleHalf = half("expScale", MethodType.methodType(void.class, ByteBuffer.class,
            int.class, ByteBuffer.class, int.class));

    private static MethodHandle half(String name, MethodType type) {
        try {
            return MethodHandles.lookup().findStatic(VectorKernels.class, name, type);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * exp's first half over n (a whole number of vectors): x = scale·in - shift clamped, y = x log2(e) + 1.5·2^23
     * into {@code rounded}, r = x - n ln2 (n = y - 1.5·2^23) and the polynomial p ≈ exp(r) into {@code out}.
     */
    static void expReduce(ByteBuffer in, int inAt, ByteBuffer out, int outAt, ByteBuffer rounded, int n, float scale,
                          float shift) {
        for (int i = 0; i < n; i += L) {
            FloatVector x = FloatVector.fromByteBuffer(S, in, F * (inAt + i), NATIVE).mul(scale).sub(shift)
                    .max(FastExp.MIN_ARG).min(FastExp.MAX_ARG);
            FloatVector y = x.mul(FastExp.LOG2E).add(FastExp.ROUNDER);
            y.intoByteBuffer(rounded, F * i, NATIVE);
            FloatVector m = y.sub(FastExp.ROUNDER);
            FloatVector r = x.sub(m.mul(FastExp.LN2_HI)).sub(m.mul(FastExp.LN2_LO));
            FloatVector p = r.mul(FastExp.P0).add(FastExp.P1).mul(r).add(FastExp.P2).mul(r).add(FastExp.P3)
                    .mul(r).add(FastExp.P4).mul(r).add(FastExp.P5);
            p.mul(r).mul(r).add(r).add(1f).intoByteBuffer(out, F * (outAt + i), NATIVE);
        }
    }

    /** exp's second half: {@code out} = p 2^h 2^(n-h), h = n >> 1, n from {@code rounded}'s low bits (FastExp's). */
    static void expScale(ByteBuffer out, int outAt, ByteBuffer rounded, int n) {
        for (int i = 0; i < n; i += L) {
            FloatVector y = FloatVector.fromByteBuffer(S, rounded, F * i, NATIVE);
            IntVector e = ((IntVector) y.reinterpretShape(SI, 0)).sub(FastExp.ROUNDER_BITS);
            IntVector h = e.lanewise(VectorOperators.ASHR, 1);
            FloatVector low = (FloatVector) h.add(127).lanewise(VectorOperators.LSHL, 23).reinterpretShape(S, 0);
            FloatVector high = (FloatVector) e.sub(h).add(127).lanewise(VectorOperators.LSHL, 23)
                    .reinterpretShape(S, 0);
            FloatVector.fromByteBuffer(S, out, F * (outAt + i), NATIVE).mul(low).mul(high)
                    .intoByteBuffer(out, F * (outAt + i), NATIVE);
        }
    }

    /** The sum of {@code b[at, at + n)}: whole vectors into lanes, lanes by {@link #laneSum}, then the tail in order. */
    static float sum(ByteBuffer b, int at, int n) {
        int bound = S.loopBound(n);
        FloatVector acc = FloatVector.zero(S);
        for (int i = 0; i < bound; i += L) {
            acc = FloatVector.fromByteBuffer(S, b, F * (at + i), NATIVE).add(acc);
        }
        float[] lanes = new float[L];
        FloatVector.broadcast(S, -0f).add(acc).intoArray(lanes, 0); // -0 + v is v: the phi leaves as an argument
        float sum = laneSum(lanes);
        for (int i = bound; i < n; i++) {
            sum += get(b, at + i);
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
            for (int i = from * L; i < to * L; i += L) {
                FloatVector gi = FloatVector.fromByteBuffer(S, g, F * i, NATIVE).mul(scale);
                // made in the loop: a captured vector crosses into the lambda, one made before the loop is a
                // local where an on-stack replacement enters it, and C2 binds either by type profile
                FloatVector.zero(S).intoByteBuffer(g, F * i, NATIVE);
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
            float[] lanes = new float[L];
            for (int r = from; r < to; r++) {
                int o = r * c;
                FloatVector vs = FloatVector.zero(S);
                int j = 0;
                for (; j < bound; j += L) {
                    vs = FloatVector.fromByteBuffer(S, xs, F * (o + j), NATIVE).add(vs);
                }
                FloatVector.broadcast(S, -0f).add(vs).intoArray(lanes, 0); // -0 + v is v: the phi leaves as an argument
                float sum = laneSum(lanes);
                for (; j < c; j++) {
                    sum += get(xs, o + j);
                }
                float mean = sum / c;
                FloatVector vq = FloatVector.zero(S);
                for (j = 0; j < bound; j += L) {
                    FloatVector d = FloatVector.fromByteBuffer(S, xs, F * (o + j), NATIVE).sub(mean);
                    vq = d.fma(d, vq);
                }
                FloatVector.broadcast(S, -0f).add(vq).intoArray(lanes, 0); // -0 + v is v: the phi leaves as an argument
                float sq = laneSum(lanes);
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
            float[] lanes = new float[L];
            for (int r = from; r < to; r++) {
                int o = r * c;
                FloatVector s1 = FloatVector.zero(S);
                FloatVector s2 = FloatVector.zero(S);
                int j = 0;
                for (; j < bound; j += L) {
                    FloatVector dxh = FloatVector.fromByteBuffer(S, d, F * (o + j), NATIVE)
                            .mul(FloatVector.fromByteBuffer(S, g, F * j, NATIVE));
                    s1 = dxh.add(s1);
                    s2 = dxh.fma(FloatVector.fromByteBuffer(S, h, F * (o + j), NATIVE), s2);
                }
                FloatVector.broadcast(S, -0f).add(s1).intoArray(lanes, 0); // -0 + v is v: the phi leaves as an argument
                float m1 = laneSum(lanes);
                FloatVector.broadcast(S, -0f).add(s2).intoArray(lanes, 0); // -0 + v is v: the phi leaves as an argument
                float m2 = laneSum(lanes);
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
        float[] lanes = new float[L];
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
            FloatVector.broadcast(S, -0f).add(acc).intoArray(lanes, 0); // -0 + v is v: the phi leaves as an argument
            sum += laneSum(lanes);
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

    // GELU's buffers are resolved once per call, outside its blocks: each bytes() inlines ND4J's and JavaCPP's
    // lookups into the compilation, and with three of them in geluRange its loops sat at C2's node budget.
    @Override
    public INDArray linearGelu(INDArray x, INDArray w, INDArray bias, INDArray pre, INDArray y) {
        int c = (int) pre.columns();
        INDArray th = Nd4j.createUninitialized(DataType.FLOAT, pre.shape());
        ByteBuffer xs = bytes(pre);
        ByteBuffer ys = bytes(y);
        ByteBuffer ts = bytes(th);
        gemm(x, w, pre, false, false, 0.0, (r0, r1, c0, c1) -> {
            addBiasBlock(pre, bias, r0, r1, c0, c1);
            segments(c, r0, r1, c0, c1, (from, to) -> gelu(xs, ys, ts, from, to));
        });
        return th;
    }

    @Override
    public INDArray gelu(INDArray x, INDArray out) {
        INDArray th = Nd4j.createUninitialized(DataType.FLOAT, x.shape());
        ByteBuffer xs = bytes(x);
        ByteBuffer ys = bytes(out);
        ByteBuffer ts = bytes(th);
        rows((int) x.length(), 1, (from, to) -> gelu(xs, ys, ts, from, to));
        return th;
    }

    /**
     * In blocks: 2u = 2K (x + C x^3) into th, exp of it in place, then tanh(u) = 1 - 2 / (exp(2u) + 1) into th
     * and GELU into y: the same operations as {@link JavaKernels}' tanh, the exp in {@link #exp}'s kernel.
     */
    static void gelu(ByteBuffer xs, ByteBuffer ys, ByteBuffer ts, int from, int to) {
        int bound = from + S.loopBound(to - from);
        for (int start = from; start < bound; start += BLOCK) {
            int end = Math.min(bound, start + BLOCK);
            for (int i = start; i < end; i += L) {
                FloatVector v = FloatVector.fromByteBuffer(S, xs, F * i, NATIVE);
                v.mul(v).mul(C).fma(v, v).mul(K).mul(2f).intoByteBuffer(ts, F * i, NATIVE);
            }
            exp(ts, start, ts, start, end - start, 1f, 0f);
            for (int i = start; i < end; i += L) {
                FloatVector one = FloatVector.broadcast(S, 1f); // one broadcast for three uses: C2's node budget
                FloatVector e = FloatVector.fromByteBuffer(S, ts, F * i, NATIVE);
                FloatVector t = one.sub(FloatVector.broadcast(S, 2f).div(e.add(one)));
                t.intoByteBuffer(ts, F * i, NATIVE);
                t.add(one).mul(FloatVector.fromByteBuffer(S, xs, F * i, NATIVE)).mul(0.5f)
                        .intoByteBuffer(ys, F * i, NATIVE);
            }
        }
        if (bound < to) {
            geluSpan(xs.asFloatBuffer(), ys.asFloatBuffer(), ts.asFloatBuffer(), bound, to);
        }
    }

    @Override
    public INDArray geluBackward(INDArray dy, INDArray x, INDArray th) {
        ByteBuffer ds = bytes(dy);
        ByteBuffer xs = bytes(x);
        ByteBuffer ts = bytes(th);
        rows((int) x.length(), 1, (from, to) -> geluBackward(ds, xs, ts, from, to));
        return dy;
    }

    static void geluBackward(ByteBuffer ds, ByteBuffer xs, ByteBuffer ts, int from, int to) {
        int bound = from + S.loopBound(to - from);
        for (int i = from; i < bound; i += L) {
            FloatVector v = FloatVector.fromByteBuffer(S, xs, F * i, NATIVE);
            FloatVector t = FloatVector.fromByteBuffer(S, ts, F * i, NATIVE);
            // 0.5 (1 + t) + 0.5 x (1 - t^2) K (1 + 3 C x^2)
            FloatVector inner = v.mul(v).mul(3 * C).add(1f).mul(0.5f * K).mul(v);
            FloatVector grad = t.mul(t).neg().add(1f).mul(inner).add(t.add(1f).mul(0.5f));
            FloatVector.fromByteBuffer(S, ds, F * i, NATIVE).mul(grad).intoByteBuffer(ds, F * i, NATIVE);
        }
        if (bound < to) {
            geluBackwardSpan(ds.asFloatBuffer(), xs.asFloatBuffer(), ts.asFloatBuffer(), bound, to);
        }
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
            exp(s, o, s, o, seen, sc, max);
            float inv = 1f / sum(s, o, seen);
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
        float[] lanes = new float[L];
        for (int r = from; r < to; r++) {
            int o = r * t;
            FloatVector vdot = FloatVector.zero(S);
            int j = 0;
            for (; j < bound; j += L) {
                vdot = FloatVector.fromByteBuffer(S, p, F * (o + j), NATIVE)
                        .fma(FloatVector.fromByteBuffer(S, d, F * (o + j), NATIVE), vdot);
            }
            FloatVector.broadcast(S, -0f).add(vdot).intoArray(lanes, 0); // -0 + v is v: the phi leaves as an argument
            float dot = laneSum(lanes);
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
            vmax = FloatVector.fromByteBuffer(S, in, F * (base + j), NATIVE).mul(scale).max(vmax);
        }
        // max(-inf, v) is v: the phi leaves as an argument (the order of a max does not change its bits)
        float max = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY).max(vmax).reduceLanes(VectorOperators.MAX);
        for (; j < v; j++) {
            max = Math.max(max, get(in, base + j) * scale);
        }
        if (out == null) {
            exp(in, base, scratch, 0, v, scale, max);
            return max + Math.log(sum(scratch, 0, v));
        }
        exp(in, base, out, base, v, scale, max);
        double sum = sum(out, base, v);
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
