package org.distillery.model;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The elementwise and row-wise parts of a GPT step: everything but the matrix products, which go to
 * BLAS through ND4J on every backend. Two engines sit behind this: {@link JavaKernels}, plain loops
 * over the arrays' native memory (the CPU backend's: a libnd4j op costs tens of microseconds to launch
 * and its row softmax is slow), and {@link Nd4jKernels}, ND4J ops that run where the arrays live
 * (any backend, CUDA included). {@link #forBackend()} picks one at run time.
 */
interface Kernels {
    /** LayerNorm over rows: writes y, xhat and rstd (one per row). */
    void layerNorm(INDArray x, INDArray gain, INDArray bias, INDArray y, INDArray xhat, INDArray rstd);

    /** Backward of LayerNorm: accumulates dgain, dbias and returns dx. */
    INDArray layerNormBackward(INDArray dy, INDArray xhat, INDArray rstd, INDArray gain, INDArray dgain,
                               INDArray dbias);

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

    static Kernels forBackend() {
        String backend = Nd4j.getBackend().getClass().getSimpleName();
        return backend.startsWith("CpuBackend") ? new JavaKernels() : new Nd4jKernels();
    }
}
