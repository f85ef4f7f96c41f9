package org.distillery.model;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.INDArrayIndex;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * The arithmetic of a GPT step and its optimizer, behind one small interface with engines registered by
 * name and chosen at run time ({@link KernelEngines}; {@code -Ddistillery.kernels=vector|java|nd4j} forces one):
 * <ul>
 *   <li>{@link VectorKernels} (CPU, when {@code jdk.incubator.vector} is in the boot layer): SIMD
 *       loops over the arrays' native memory, exp and tanh from the JDK's vector math, matrix
 *       products straight to OpenBLAS;</li>
 *   <li>{@link JavaKernels} (CPU otherwise): the same with scalar loops;</li>
 *   <li>{@link Nd4jKernels} (any backend, CUDA included): ND4J ops that run where the arrays live.</li>
 * </ul>
 * On the CPU a libnd4j op costs tens of microseconds to launch (a quarter millisecond for a small
 * {@code Mmul}), which is why the CPU engines call BLAS and loop themselves.
 */
interface Kernels {
    /** The engine, for provenance and benchmarks (with the BLAS library where it has a choice). */
    /**
     * This engine with matrix products in {@code precision}: itself for fp32; an engine that has no bf16 products
     * (ND4J's) returns itself too, and {@link #products()} tells the caller.
     */
    default Kernels withProducts(MatmulPrecision precision) {
        return this;
    }

    /** The precision of this engine's matrix products. */
    default MatmulPrecision products() {
        return MatmulPrecision.FP32;
    }

    default String name() {
        return getClass().getSimpleName();
    }

    /** {@code out = op(a) op(b) + beta * out} for row-major matrices: one BLAS gemm. */
    void gemm(INDArray a, INDArray b, INDArray out, boolean transA, boolean transB, double beta);

    /** {@code out[i,j] = op(a[i,j]) op(b[i,j])} over the two leading dimensions of rank-4 arrays. */
    void batchedGemm(INDArray a, INDArray b, INDArray out, boolean transA, boolean transB);

    /**
     * {@code y = x w + bias}: a linear layer's forward pass (bias null: none, as in most of a Llama model). An engine
     * may add the bias while the product is in cache.
     */
    default void linear(INDArray x, INDArray w, INDArray bias, INDArray y) {
        gemm(x, w, y, false, false, 0.0);
        addBias(y, bias);
    }

    /**
     * The MLP's first layer: {@code pre = x w + bias} and {@code y = GELU(pre)}. Returns what
     * {@link #geluBackward} needs besides {@code pre}.
     */
    default INDArray linearGelu(INDArray x, INDArray w, INDArray bias, INDArray pre, INDArray y) {
        linear(x, w, bias, pre);
        return gelu(pre, y);
    }

    /**
     * A linear layer into a residual stream: {@code out = (x w + bias) * dropout} (no mask when it
     * is null), then {@code residual += out}.
     */
    default void linearResidual(INDArray x, INDArray w, INDArray bias, INDArray dropout, INDArray out,
                                INDArray residual) {
        linear(x, w, bias, out);
        if (dropout != null) {
            out.muli(dropout);
        }
        add(residual, out);
    }

    /** {@code x += y} elementwise (a residual connection or an accumulated gradient). */
    void add(INDArray x, INDArray y);

    /** {@code y += bias} on every row (bias null: nothing). */
    void addBias(INDArray y, INDArray bias);

    /**
     * One AdamW update of {@code params} in place, with moments {@code m} and {@code v}, from the
     * gradient times {@code u.gradScale()}; leaves {@code grads} zero, ready for the next accumulation.
     */
    void adamW(INDArray params, INDArray grads, INDArray m, INDArray v, INDArray decayMask, AdamW.Update u);

    /** The sum of the squares of x's values (a global gradient norm, squared). */
    double sumOfSquares(INDArray x);

    /** LayerNorm over rows: writes y, xhat and rstd (one per row). */
    void layerNorm(INDArray x, INDArray gain, INDArray bias, INDArray y, INDArray xhat, INDArray rstd);

    /**
     * Backward of LayerNorm: accumulates dgain and dbias, and writes dL/dx into {@code dx}, or adds
     * it there when {@code accumulate} (a residual stream's gradient).
     */
    void layerNormBackward(INDArray dy, INDArray xhat, INDArray rstd, INDArray gain, INDArray dgain, INDArray dbias,
                           INDArray dx, boolean accumulate);

    /**
     * RMSNorm over rows (the Llama family's): {@code y = x * rstd * gain}, {@code rstd = 1 / sqrt(mean(x^2) + eps)}
     * one per row.
     */
    void rmsNorm(INDArray x, INDArray gain, double eps, INDArray y, INDArray rstd);

    /**
     * Backward of RMSNorm: accumulates dgain, and writes dL/dx into {@code dx}, or adds it there when
     * {@code accumulate} (a residual stream's gradient).
     */
    void rmsNormBackward(INDArray dy, INDArray x, INDArray rstd, INDArray gain, INDArray dgain, INDArray dx,
                         boolean accumulate);

    /**
     * Rotary position embedding, in place, on the first {@code heads} heads of size {@code d} of each row of
     * {@code x [B*T, W]} (the rest of a row, v in a fused qkv, is left alone). Row r sits at position
     * {@code from + r mod time}. Hugging Face's rotate-half layout: dims i and i + d/2 of a head turn together by
     * {@code pos * theta^(-2i/d)}, whose cosines and sines are rows of {@code cos}, {@code sin} {@code [S, d/2]}
     * ({@link RotaryTables}). {@code inverse} turns the other way: the backward, which is the transpose.
     */
    void rope(INDArray x, int time, int from, int heads, int d, INDArray cos, INDArray sin, boolean inverse);

    /**
     * The SiLU-gated unit of a Llama MLP on fused rows {@code gateUp [N, 2I]} (gate, then up):
     * {@code out [N, I] = silu(gate) * up}.
     */
    void swiglu(INDArray gateUp, INDArray out);

    /**
     * Backward of {@link #swiglu}: writes {@code dgate = dout * up * silu'(gate)} and {@code dup = dout * silu(gate)}
     * into {@code dgateUp [N, 2I]}, laid out as {@code gateUp}.
     */
    void swigluBackward(INDArray dout, INDArray gateUp, INDArray dgateUp);

    /**
     * Grouped-query attention's keys and values for the multi-head kernels: from {@code qkv [N, (H + 2K) d]} (H query
     * heads, then K key heads, then K value heads) to {@code full [N, 3 H d]}, query head h reading key/value head
     * {@code h / (H / K)}, as {@code transformers}' {@code repeat_kv} does.
     */
    default void repeatKv(INDArray qkv, INDArray full, int heads, int kvHeads, int d) {
        int group = heads / kvHeads;
        long hd = (long) heads * d;
        long kd = (long) kvHeads * d;
        full.get(NDArrayIndex.all(), NDArrayIndex.interval(0, hd)).assign(qkv.get(NDArrayIndex.all(),
                NDArrayIndex.interval(0, hd)));
        for (int part = 1; part <= 2; part++) {
            for (int h = 0; h < heads; h++) {
                long src = hd + (part - 1) * kd + (long) (h / group) * d;
                long dst = part * hd + (long) h * d;
                full.get(NDArrayIndex.all(), NDArrayIndex.interval(dst, dst + d))
                        .assign(qkv.get(NDArrayIndex.all(), NDArrayIndex.interval(src, src + d)));
            }
        }
    }

    /** Backward of {@link #repeatKv}: writes {@code dqkv}, each key/value head the sum over the query heads it served. */
    default void repeatKvBackward(INDArray dfull, INDArray dqkv, int heads, int kvHeads, int d) {
        int group = heads / kvHeads;
        long hd = (long) heads * d;
        long kd = (long) kvHeads * d;
        dqkv.get(NDArrayIndex.all(), NDArrayIndex.interval(0, hd)).assign(dfull.get(NDArrayIndex.all(),
                NDArrayIndex.interval(0, hd)));
        for (int part = 1; part <= 2; part++) {
            for (int k = 0; k < kvHeads; k++) {
                long dst = hd + (part - 1) * kd + (long) k * d;
                INDArray sum = dqkv.get(NDArrayIndex.all(), NDArrayIndex.interval(dst, dst + d));
                for (int j = 0; j < group; j++) {
                    long src = part * hd + (long) (k * group + j) * d;
                    INDArray one = dfull.get(NDArrayIndex.all(), NDArrayIndex.interval(src, src + d));
                    if (j == 0) {
                        sum.assign(one);
                    } else {
                        sum.addi(one);
                    }
                }
            }
        }
    }

    /** GELU (tanh form) into out; returns what {@link #geluBackward} needs besides x. */
    INDArray gelu(INDArray x, INDArray out);

    /** dy * GELU'(x), into a new array or dy itself. */
    INDArray geluBackward(INDArray dy, INDArray x, INDArray aux);

    /**
     * Scores {@code [B*H*T, T]} → causal softmax probabilities in place: row r (query position r mod T)
     * sees keys 0..r mod T, after multiplying by scale.
     */
    void causalSoftmax(INDArray scores, int time, double scale);

    /** Softmax backward in place: dprobs becomes scale * dL/dscores. */
    void softmaxBackward(INDArray probs, INDArray dprobs, double scale);

    /**
     * Row-wise softmax of {@code scale * x} into {@code out} (may be {@code x}); returns each row's
     * log-sum-exp of {@code scale * x}, so that log-probabilities are {@code scale * x - lse}.
     */
    double[] softmaxRows(INDArray x, float scale, INDArray out);

    /** Mean cross-entropy of targets; with grad non-null writes scale * dL/dlogits into it (may be logits). */
    double crossEntropy(INDArray logits, int[] targets, INDArray grad, double scale);

    /** {@code target += sum of dy's rows} (a bias gradient). */
    void addColumnSums(INDArray dy, INDArray target);

    /** Rows {@code ids} of {@code table}, as a new {@code [ids.length, C]} array. */
    INDArray gatherRows(INDArray table, int[] ids);

    /** {@code table[ids[i]] += rows[i]} for every i; repeated ids add up. */
    void scatterAddRows(INDArray table, int[] ids, INDArray rows);

    /** Part {@code which} (0 q, 1 k, 2 v) of {@code qkv [B*T, parts*H*D]} as {@code [B, H, T, D]}. */
    INDArray splitHeads(INDArray qkv, int which, int batch, int time, int heads, int headSize);

    /** {@code [B, H, T, D]} → {@code [B*T, H*D]}, written into {@code out} at column offset {@code which * H*D}. */
    void mergeHeads(INDArray y, INDArray out, int which);

    /**
     * Causal multi-head self-attention of one layer: q, k and v are the three parts of
     * {@code qkv [B*T, 3C]}; writes the softmax probabilities {@code probs [B, H, T, T]} (kept for the
     * backward pass) and the heads' output, merged, into {@code y [B*T, C]}. {@code dropout}, when not
     * null, is an inverted-dropout mask on the probabilities. This default is built from the other
     * kernels; an engine may fuse it.
     */
    default void attention(INDArray qkv, INDArray dropout, INDArray probs, INDArray y, int batch, int time, int heads) {
        int d = (int) (qkv.columns() / 3 / heads);
        INDArray q = splitHeads(qkv, 0, batch, time, heads, d);
        INDArray k = splitHeads(qkv, 1, batch, time, heads, d);
        INDArray v = splitHeads(qkv, 2, batch, time, heads, d);
        batchedGemm(q, k, probs, false, true);
        causalSoftmax(probs.reshape('c', (long) batch * heads * time, time), time, 1.0 / Math.sqrt(d));
        INDArray used = dropout == null ? probs : probs.mul(dropout);
        INDArray out = Nd4j.createUninitialized(DataType.FLOAT, batch, heads, time, d);
        batchedGemm(used, v, out, false, false);
        mergeHeads(out, y, 0);
    }

    /** Backward of {@link #attention}: writes dL/dqkv into {@code dqkv [B*T, 3C]} from {@code dy [B*T, C]}. */
    default void attentionBackward(INDArray dy, INDArray qkv, INDArray dropout, INDArray probs, INDArray dqkv,
                                   int batch, int time, int heads) {
        int d = (int) (qkv.columns() / 3 / heads);
        INDArray q = splitHeads(qkv, 0, batch, time, heads, d);
        INDArray k = splitHeads(qkv, 1, batch, time, heads, d);
        INDArray v = splitHeads(qkv, 2, batch, time, heads, d);
        INDArray dyh = splitHeads(dy, 0, batch, time, heads, d); // dy is [B*T, C]: a one-part split
        INDArray used = dropout == null ? probs : probs.mul(dropout);
        INDArray ds = Nd4j.createUninitialized(DataType.FLOAT, batch, heads, time, time);
        batchedGemm(dyh, v, ds, false, true);
        INDArray dv = Nd4j.createUninitialized(DataType.FLOAT, batch, heads, time, d);
        batchedGemm(used, dyh, dv, true, false);
        if (dropout != null) {
            ds.muli(dropout);
        }
        softmaxBackward(probs.reshape('c', (long) batch * heads * time, time),
                ds.reshape('c', (long) batch * heads * time, time), 1.0 / Math.sqrt(d));
        INDArray dq = Nd4j.createUninitialized(DataType.FLOAT, batch, heads, time, d);
        batchedGemm(ds, k, dq, false, false);
        INDArray dk = Nd4j.createUninitialized(DataType.FLOAT, batch, heads, time, d);
        batchedGemm(ds, q, dk, true, false);
        mergeHeads(dq, dqkv, 0);
        mergeHeads(dk, dqkv, 1);
        mergeHeads(dv, dqkv, 2);
    }

    /**
     * Keeps keys and values for decoding: the k and v parts of {@code qkv [B*time, 3C]} go to {@code keys}
     * and {@code values} ({@code [B, H, S, D]}, S the cache's length) at positions {@code from} to
     * {@code from + time - 1}.
     */
    default void cacheKeysValues(INDArray qkv, INDArray keys, INDArray values, int from, int time) {
        long[] s = keys.shape();
        INDArrayIndex[] at = {NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.interval(from, from + time),
            NDArrayIndex.all()};
        keys.get(at).assign(splitHeads(qkv, 1, (int) s[0], time, (int) s[1], (int) s[3]));
        values.get(at).assign(splitHeads(qkv, 2, (int) s[0], time, (int) s[1], (int) s[3]));
    }

    /**
     * Attention of one new position per sequence over the cached ones (decoding with a KV cache): the
     * query is the q part of {@code qkv [B, 3C]}, the keys and values positions {@code 0..len-1} of
     * {@code keys} and {@code values} ({@code [B, H, S, D]}, the new position's included, so nothing is
     * masked); writes the heads' output, merged, into {@code y [B, C]}.
     */
    default void cachedAttention(INDArray qkv, INDArray keys, INDArray values, int len, INDArray y) {
        long[] s = keys.shape();
        int batch = (int) s[0];
        int heads = (int) s[1];
        int d = (int) s[3];
        INDArrayIndex[] seen = {NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.interval(0, len), NDArrayIndex.all()};
        INDArray scores = Nd4j.createUninitialized(DataType.FLOAT, batch, heads, 1, len);
        batchedGemm(splitHeads(qkv, 0, batch, 1, heads, d), keys.get(seen).dup('c'), scores, false, true);
        INDArray rows = scores.reshape('c', (long) batch * heads, len);
        softmaxRows(rows, (float) (1.0 / Math.sqrt(d)), rows);
        INDArray out = Nd4j.createUninitialized(DataType.FLOAT, batch, heads, 1, d);
        batchedGemm(scores, values.get(seen).dup('c'), out, false, false);
        mergeHeads(out, y, 0);
    }

    /**
     * The engine for this process ({@link KernelEngines#preferred}), after the workbench's device check:
     * {@code -Ddistillery.backend=cpu|cuda} fails rather than train on the other device.
     */
    static Kernels forBackend() {
        boolean cpu = KernelEngines.onCpu();
        String wanted = System.getProperty("distillery.backend", "").strip().toLowerCase(java.util.Locale.ROOT);
        if (!wanted.isEmpty() && !wanted.equals(cpu ? "cpu" : "cuda")) {
            String backend = Nd4j.getBackend().getClass().getSimpleName();
            throw new org.distillery.core.DistilleryException("distillery.backend asks for " + wanted + ", but this "
                    + "engine runs ND4J's " + backend + (wanted.equals("cuda") ? ": build it with the cuda profile "
                    + "(./mvnw -Pcuda -DskipTests install) on a machine with CUDA" : ": build it without -Pcuda"));
        }
        return KernelEngines.preferred();
    }
}
