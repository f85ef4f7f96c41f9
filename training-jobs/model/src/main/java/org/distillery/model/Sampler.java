package org.distillery.model;

import java.util.Arrays;
import java.util.SplittableRandom;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Picks the next token from a row of logits: greedy (temperature 0), or sampling at a temperature
 * from the top-k tokens and/or the smallest set whose probability reaches top-p (nucleus sampling),
 * in the order Hugging Face's generate applies them: temperature, then top-k, then top-p.
 */
public final class Sampler {
    private final double temperature;
    private final int topK;
    private final double topP;
    private final SplittableRandom rng;

    /**
     * @param temperature 0 for greedy decoding, otherwise the softmax temperature (> 0)
     * @param topK        keep only the k most likely tokens (0: all)
     * @param topP        keep the most likely tokens up to this cumulative probability (1: all)
     */
    public Sampler(double temperature, int topK, double topP, long seed) {
        if (!(temperature >= 0) || Double.isInfinite(temperature)) { // NaN too
            throw new IllegalArgumentException("temperature must be 0 (greedy) or positive, found " + temperature);
        }
        if (topK < 0) {
            throw new IllegalArgumentException("top-k must be 0 (off) or positive, found " + topK);
        }
        if (!(topP > 0 && topP <= 1)) {
            throw new IllegalArgumentException("top-p must be in (0, 1], found " + topP);
        }
        this.temperature = temperature;
        this.topK = topK;
        this.topP = topP;
        this.rng = new SplittableRandom(seed);
    }

    public int next(float[] logits) {
        int v = logits.length;
        if (temperature == 0) {
            int best = 0;
            for (int i = 1; i < v; i++) {
                if (logits[i] > logits[best]) {
                    best = i;
                }
            }
            return best;
        }
        if (topK == 0 && topP >= 1) { // the whole distribution: no need to sort it
            return next(Nd4j.createFromArray(logits).reshape(1, v))[0];
        }
        Integer[] order = new Integer[v];
        for (int i = 0; i < v; i++) {
            order[i] = i;
        }
        Arrays.sort(order, (a, b) -> Float.compare(logits[b], logits[a]));
        int keep = topK > 0 ? Math.min(topK, v) : v;
        double max = logits[order[0]] / temperature;
        double[] p = new double[keep];
        double sum = 0;
        for (int i = 0; i < keep; i++) {
            p[i] = Math.exp(logits[order[i]] / temperature - max);
            sum += p[i];
        }
        if (topP < 1) {
            double cum = 0;
            int cut = keep;
            for (int i = 0; i < keep; i++) {
                cum += p[i] / sum;
                if (cum >= topP) {
                    cut = i + 1;
                    break;
                }
            }
            keep = cut;
            sum = 0;
            for (int i = 0; i < keep; i++) {
                sum += p[i];
            }
        }
        double r = rng.nextDouble() * sum;
        for (int i = 0; i < keep; i++) {
            r -= p[i];
            if (r <= 0) {
                return order[i];
            }
        }
        return order[keep - 1];
    }

    /**
     * One token per row of {@code logits [B, V]}, which may be overwritten. Sampling from the whole
     * distribution takes the engine's row-parallel softmax in place, then one scan per row: a scalar
     * exp over a 50k vocabulary per row was as slow as the student's forward pass in a rollout.
     */
    public int[] next(INDArray logits) {
        int rows = (int) logits.rows();
        int[] out = new int[rows];
        if (temperature == 0 || topK != 0 || topP < 1) {
            for (int r = 0; r < rows; r++) {
                out[r] = next(logits.getRow(r).toFloatVector());
            }
            return out;
        }
        KERNELS.softmaxRows(logits, (float) (1 / temperature), logits);
        for (int r = 0; r < rows; r++) {
            float[] p = logits.getRow(r).toFloatVector();
            double u = rng.nextDouble();
            int pick = -1;
            double cum = 0;
            for (int i = 0; i < p.length; i++) {
                cum += p[i];
                if (u < cum) {
                    pick = i;
                    break;
                }
            }
            if (pick < 0) { // rounding left the sum a little under u: the last token with any mass
                pick = p.length - 1;
                while (pick > 0 && p[pick] == 0) {
                    pick--;
                }
            }
            out[r] = pick;
        }
        return out;
    }

    private static final Kernels KERNELS = Kernels.forBackend();
}
