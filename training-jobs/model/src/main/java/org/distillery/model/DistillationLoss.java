package org.distillery.model;

import java.nio.FloatBuffer;
import java.util.Locale;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Token-level knowledge distillation on logits: a divergence between the teacher's and the student's
 * next-token distributions, both softened by a temperature τ, mixed with the next-token
 * cross-entropy on the data:
 *
 * <pre>
 *   loss = kd_ratio · τ² · D(p_τ, q_τ) + (1 − kd_ratio) · CE(q_1, target)      (mean over positions)
 * </pre>
 *
 * where p is the teacher's distribution and q the student's. τ² keeps the soft term's gradient on the
 * scale of the hard one as τ grows (Hinton et al., 2015). D is one of
 * <ul>
 *   <li>{@link Divergence#FORWARD_KL}: KL(p ‖ q), mass-covering, the classic KD loss;</li>
 *   <li>{@link Divergence#REVERSE_KL}: KL(q ‖ p), mode-seeking (MiniLLM);</li>
 *   <li>{@link Divergence#JSD}: the generalized Jensen-Shannon divergence of GKD,
 *       β·KL(p ‖ m) + (1 − β)·KL(q ‖ m) with m = β·p + (1 − β)·q; β = 0 is forward and β = 1 reverse
 *       KL, as in TRL's {@code generalized_jsd_loss}.</li>
 * </ul>
 *
 * <p>The teacher is either dense (its logits over the whole vocabulary: a live teacher) or its top-k
 * logits plus the log-sum-exp of the rest (offline logits). Sparse teachers are compared over k + 1
 * buckets, the k tokens and "every other token", with the student's mass gathered the same way, so
 * that no probability mass is dropped. Per row, with bucket masses P and Q and h_b = Q_b·∂D/∂Q_b, the
 * gradient on a student logit j in bucket b is (q_j/Q_b·h_b − q_j·Σh)/τ: the softmax's Jacobian,
 * written so that no ratio of tiny masses is formed. Rows run in double on every core.
 */
public final class DistillationLoss {
    /** The divergence between teacher and student distributions. */
    public enum Divergence {
        FORWARD_KL, REVERSE_KL, JSD;

        /** forward_kl, reverse_kl or jsd; an error listing them otherwise. */
        public static Divergence parse(String s) {
            return switch (s.trim().toLowerCase(Locale.ROOT)) {
                case "forward_kl", "kl", "fkl" -> FORWARD_KL;
                case "reverse_kl", "rkl" -> REVERSE_KL;
                case "jsd", "generalized_jsd" -> JSD;
                default -> throw new IllegalArgumentException("unknown divergence '" + s
                        + "': expected forward_kl, reverse_kl or jsd");
            };
        }

        public String optionName() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /** The mean loss and its two parts (each a mean over positions, before weighting). */
    public record Value(double loss, double kd, double ce) {
    }

    /** The teacher's view of one batch: per row of the student's logits, a distribution to match. */
    public sealed interface Teacher permits Dense, TopK {
    }

    /** Teacher logits over the whole vocabulary, {@code [N, V]}. */
    public record Dense(INDArray logits) implements Teacher {
    }

    /**
     * A teacher's top-k logits per row: {@code ids[r*k + i]} and {@code logits[r*k + i]}, and
     * {@code restLse[r]}, the log-sum-exp over every other token of logit/τ at the temperature the
     * logits were stored for (so it is only right for that τ).
     */
    public record TopK(int k, int[] ids, float[] logits, float[] restLse) implements Teacher {
    }

    private final Divergence divergence;
    private final double beta;
    private final double temperature;
    private final double kdRatio;

    public DistillationLoss(Divergence divergence, double beta, double temperature, double kdRatio) {
        if (!(temperature > 0)) {
            throw new IllegalArgumentException("temperature must be positive, found " + temperature);
        }
        if (!(kdRatio >= 0 && kdRatio <= 1)) {
            throw new IllegalArgumentException("kd_ratio must be in [0, 1], found " + kdRatio);
        }
        if (!(beta >= 0 && beta <= 1)) {
            throw new IllegalArgumentException("beta must be in [0, 1], found " + beta);
        }
        this.divergence = divergence == Divergence.JSD && beta == 0 ? Divergence.FORWARD_KL
                : divergence == Divergence.JSD && beta == 1 ? Divergence.REVERSE_KL : divergence;
        this.beta = beta;
        this.temperature = temperature;
        this.kdRatio = kdRatio;
    }

    public double temperature() {
        return temperature;
    }

    /**
     * The loss of the student's {@code logits [N, V]} against the teacher and the next tokens
     * {@code targets}; when {@code grad} is not null (it may be {@code logits} itself) it receives
     * {@code scale} times the loss's gradient with respect to the logits.
     */
    public Value apply(INDArray logits, Teacher teacher, int[] targets, INDArray grad, double scale) {
        int n = (int) logits.rows();
        int v = (int) logits.columns();
        if (targets.length != n) {
            throw new IllegalArgumentException(n + " rows of logits but " + targets.length + " targets");
        }
        FloatBuffer s = JavaKernels.buffer(logits);
        FloatBuffer g = grad == null ? null : JavaKernels.buffer(grad);
        FloatBuffer t;
        if (teacher instanceof Dense d) {
            if (d.logits().rows() != n || d.logits().columns() != v) {
                throw new IllegalArgumentException("teacher logits " + java.util.Arrays.toString(d.logits().shape())
                        + " for student logits [" + n + ", " + v + "]: the two models must share a vocabulary");
            }
            t = JavaKernels.buffer(d.logits());
        } else {
            t = null;
        }
        TopK top = teacher instanceof TopK k ? k : null;
        if (top != null && (top.ids().length != (long) n * top.k() || top.restLse().length != n)) {
            throw new IllegalArgumentException("top-" + top.k() + " teacher logits for " + top.restLse().length
                    + " rows, student logits have " + n);
        }
        double[] kd = new double[n];
        double[] ce = new double[n];
        double perRow = scale / n;
        JavaKernels.rows(n, v, (from, to) -> {
            Row row = new Row(v, top == null ? v : top.k() + 1);
            for (int r = from; r < to; r++) {
                if (top == null) {
                    row.dense(s, t, r * v);
                } else {
                    row.sparse(s, r * v, top, r);
                }
                kd[r] = row.divergence();
                ce[r] = row.crossEntropy(targets[r]);
                if (g != null) {
                    row.gradient(g, r * v, targets[r], perRow, top, r);
                }
            }
        });
        double kdSum = 0;
        double ceSum = 0;
        for (int r = 0; r < n; r++) {
            kdSum += kd[r];
            ceSum += ce[r];
        }
        double kdMean = kdSum / n;
        double ceMean = ceSum / n;
        return new Value(kdRatio * temperature * temperature * kdMean + (1 - kdRatio) * ceMean, kdMean, ceMean);
    }

    /** One row's scratch: the student's log-probabilities at τ and at 1, and the bucket masses. */
    private final class Row {
        final int v;
        final double[] logQt; // student log-probabilities at τ, per token
        final double[] logQ1; // student log-probabilities at 1, per token
        final double[] bucketP; // teacher mass per bucket
        final double[] bucketQ; // student mass per bucket (at τ)
        final double[] h; // Q_b · ∂D/∂Q_b per bucket
        int buckets;
        double hSum;

        Row(int v, int buckets) {
            this.v = v;
            this.logQt = new double[v];
            this.logQ1 = new double[v];
            this.bucketP = new double[buckets];
            this.bucketQ = new double[buckets];
            this.h = new double[buckets];
        }

        /** The student's softmaxes at τ and 1 of row {@code s[o, o + v)}. */
        void student(FloatBuffer s, int o) {
            double max = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < v; j++) {
                max = Math.max(max, s.get(o + j));
            }
            double sumT = 0;
            double sum1 = 0;
            for (int j = 0; j < v; j++) {
                double z = s.get(o + j) - max;
                logQt[j] = z / temperature;
                logQ1[j] = z;
                sumT += Math.exp(logQt[j]);
                sum1 += Math.exp(z);
            }
            double lseT = Math.log(sumT);
            double lse1 = Math.log(sum1);
            for (int j = 0; j < v; j++) {
                logQt[j] -= lseT;
                logQ1[j] -= lse1;
            }
        }

        /** Buckets are the tokens; the teacher's row is {@code t[o, o + v)}. */
        void dense(FloatBuffer s, FloatBuffer t, int o) {
            student(s, o);
            buckets = v;
            double max = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < v; j++) {
                max = Math.max(max, t.get(o + j));
            }
            double sum = 0;
            for (int j = 0; j < v; j++) {
                bucketP[j] = Math.exp((t.get(o + j) - max) / temperature);
                sum += bucketP[j];
            }
            for (int j = 0; j < v; j++) {
                bucketP[j] /= sum;
                bucketQ[j] = Math.exp(logQt[j]);
            }
        }

        /** Buckets are the teacher's k tokens, then the rest. */
        void sparse(FloatBuffer s, int o, TopK top, int r) {
            student(s, o);
            int k = top.k();
            buckets = k + 1;
            double max = top.restLse()[r];
            for (int i = 0; i < k; i++) {
                max = Math.max(max, top.logits()[r * k + i] / temperature);
            }
            double sum = Math.exp(top.restLse()[r] - max);
            double qTop = 0;
            for (int i = 0; i < k; i++) {
                bucketP[i] = Math.exp(top.logits()[r * k + i] / temperature - max);
                sum += bucketP[i];
                bucketQ[i] = Math.exp(logQt[top.ids()[r * k + i]]);
                qTop += bucketQ[i];
            }
            for (int i = 0; i < k; i++) {
                bucketP[i] /= sum;
            }
            bucketP[k] = Math.exp(top.restLse()[r] - max) / sum;
            bucketQ[k] = Math.max(0, 1 - qTop);
        }

        /** D(P, Q) over the buckets; fills h and hSum for the gradient. */
        double divergence() {
            double d = 0;
            hSum = 0;
            for (int b = 0; b < buckets; b++) {
                double p = bucketP[b];
                double q = bucketQ[b];
                double term;
                switch (divergence) {
                    case FORWARD_KL -> {
                        term = p > 0 ? p * (Math.log(p) - safeLog(q)) : 0;
                        h[b] = -p;
                    }
                    case REVERSE_KL -> {
                        double lq = safeLog(q);
                        double lp = safeLog(p);
                        term = q > 0 ? q * (lq - lp) : 0;
                        h[b] = q > 0 ? q * (lq - lp + 1) : 0;
                    }
                    default -> {
                        double m = beta * p + (1 - beta) * q;
                        double lm = safeLog(m);
                        term = (p > 0 ? beta * p * (Math.log(p) - lm) : 0)
                                + (q > 0 ? (1 - beta) * q * (Math.log(q) - lm) : 0);
                        h[b] = q > 0 ? (1 - beta) * q * (Math.log(q) - lm) : 0;
                    }
                }
                d += term;
                hSum += h[b];
            }
            return d;
        }

        double crossEntropy(int target) {
            return -logQ1[target];
        }

        /**
         * {@code g[o + j] = perRow · (kd_ratio · τ² · ∂D/∂z_j + (1 − kd_ratio) · ∂CE/∂z_j)}: for token j in
         * bucket b, ∂D/∂z_j = (q_j/Q_b · h_b − q_j · Σh) / τ.
         */
        void gradient(FloatBuffer g, int o, int target, double perRow, TopK top, int r) {
            double soft = perRow * kdRatio * temperature; // τ² / τ
            double hard = perRow * (1 - kdRatio);
            int k = top == null ? 0 : top.k();
            double restShare = top == null ? 0 : (bucketQ[k] > 0 ? h[k] / bucketQ[k] : 0);
            for (int j = 0; j < v; j++) {
                double q = Math.exp(logQt[j]);
                double own = top == null ? h[j] : q * restShare; // q_j/Q_b · h_b
                double dz = soft * (own - q * hSum) + hard * Math.exp(logQ1[j]);
                g.put(o + j, (float) dz);
            }
            if (top != null) { // the k tokens have buckets of their own: q_j/Q_b · h_b = h_b
                for (int i = 0; i < k; i++) {
                    int j = top.ids()[r * k + i];
                    double q = Math.exp(logQt[j]);
                    double dz = soft * (h[i] - q * hSum) + hard * Math.exp(logQ1[j]);
                    g.put(o + j, (float) dz);
                }
            }
            g.put(o + target, g.get(o + target) - (float) hard);
        }
    }

    private static double safeLog(double x) {
        return Math.log(Math.max(x, Double.MIN_NORMAL));
    }
}
