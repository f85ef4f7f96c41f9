package org.distillery.model;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * AdamW (Loshchilov and Hutter): Adam on the gradient, and weight decay applied to the weights
 * directly, scaled by the learning rate, only where {@code decayMask} is 1 (the matrices of linear
 * layers; never biases, LayerNorms or embeddings). Works on the whole flat parameter buffer at once,
 * in one fused pass where the backend's {@link Kernels} allow.
 */
public final class AdamW {
    /**
     * One update's constants: {@code c1} and {@code c2} are the bias corrections 1 - beta^t, and
     * {@code gradScale} multiplies the gradient first (clipping by global norm).
     */
    record Update(double lr, double beta1, double beta2, double eps, double weightDecay, double c1, double c2,
                  double gradScale) {
    }

    private final double beta1;
    private final double beta2;
    private final double eps;
    private final double weightDecay;
    private final INDArray decayMask;
    private final INDArray m;
    private final INDArray v;
    private final Kernels kernels;
    private long t;

    public AdamW(GptParameters params, double beta1, double beta2, double eps, double weightDecay) {
        this(params, beta1, beta2, eps, weightDecay, null, null, 0);
    }

    /** Restores a state from a checkpoint ({@code m}, {@code v} and the step count {@code t}). */
    public AdamW(GptParameters params, double beta1, double beta2, double eps, double weightDecay,
                 INDArray m, INDArray v, long t) {
        this(params, beta1, beta2, eps, weightDecay, m, v, t, Kernels.forBackend());
    }

    AdamW(GptParameters params, double beta1, double beta2, double eps, double weightDecay,
          INDArray m, INDArray v, long t, Kernels kernels) {
        this(params.decayMask(), beta1, beta2, eps, weightDecay, m, v, t, kernels);
    }

    /**
     * AdamW over any flat buffer of {@code decayMask.length()} values (weights an objective learns beside
     * the model); {@code m}, {@code v} null for a fresh state.
     */
    public AdamW(INDArray decayMask, double beta1, double beta2, double eps, double weightDecay, INDArray m, INDArray v,
                 long t) {
        this(decayMask, beta1, beta2, eps, weightDecay, m, v, t, Kernels.forBackend());
    }

    private AdamW(INDArray decayMask, double beta1, double beta2, double eps, double weightDecay, INDArray m,
                  INDArray v, long t, Kernels kernels) {
        this.kernels = kernels;
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.eps = eps;
        this.weightDecay = weightDecay;
        this.decayMask = decayMask;
        long n = decayMask.length();
        this.m = m != null ? m : Nd4j.zeros(DataType.FLOAT, n);
        this.v = v != null ? v : Nd4j.zeros(DataType.FLOAT, n);
        this.t = t;
    }

    /**
     * One update of {@code params} from {@code grads} at learning rate {@code lr}, with the gradient
     * clipped to a global L2 norm of {@code maxNorm} (0: no clipping) inside the same fused pass.
     * Consumes the gradient: {@code grads} is left zero, ready to accumulate the next step's.
     * Returns the gradient's norm before clipping.
     */
    public double step(INDArray params, INDArray grads, double lr, double maxNorm) {
        double norm = Math.sqrt(sumOfSquares(grads));
        update(params, grads, lr, clipScale(norm, maxNorm));
        return norm;
    }

    /** The squared L2 norm of a gradient: buffers optimized together are clipped by their joint norm. */
    public double sumOfSquares(INDArray grads) {
        return kernels.sumOfSquares(grads);
    }

    /** What multiplies a gradient of global norm {@code norm} to clip it to {@code maxNorm} (0: no clipping). */
    public static double clipScale(double norm, double maxNorm) {
        return maxNorm > 0 && norm > maxNorm ? maxNorm / (norm + 1e-6) : 1.0;
    }

    /** One update with the gradient multiplied by {@code gradScale} first; consumes the gradient. */
    public void update(INDArray params, INDArray grads, double lr, double gradScale) {
        t++;
        kernels.adamW(params, grads, m, v, decayMask, new Update(lr, beta1, beta2, eps, weightDecay,
                1 - Math.pow(beta1, t), 1 - Math.pow(beta2, t), gradScale));
    }

    public INDArray firstMoment() {
        return m;
    }

    public INDArray secondMoment() {
        return v;
    }

    public long steps() {
        return t;
    }
}
