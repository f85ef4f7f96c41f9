package org.distillery.model;

import java.nio.FloatBuffer;
import java.util.Locale;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

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
 * written so that no ratio of tiny masses is formed. The softmaxes run on the engine's kernel
 * ({@link Kernels#softmaxRows}); the rest is arithmetic per value, in double, on every core.
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

    private final Kernels kernels;
    private final Divergence divergence;
    private final double beta;
    private final double temperature;
    private final double kdRatio;

    public DistillationLoss(Divergence divergence, double beta, double temperature, double kdRatio) {
        this(divergence, beta, temperature, kdRatio, Kernels.forBackend());
    }

    DistillationLoss(Divergence divergence, double beta, double temperature, double kdRatio, Kernels kernels) {
        this.kernels = kernels;
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

    /** The same loss with another weight on the divergence (on-policy batches use the divergence alone). */
    public DistillationLoss withKdRatio(double ratio) {
        return new DistillationLoss(divergence, beta, temperature, ratio, kernels);
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
        TopK top = teacher instanceof TopK k ? k : null;
        if (top != null && (top.ids().length != (long) n * top.k() || top.restLse().length != n)) {
            throw new IllegalArgumentException("top-" + top.k() + " teacher logits for " + top.restLse().length
                    + " rows, student logits have " + n);
        }
        float inv = (float) (1 / temperature);
        // Softmaxes by the engine's kernel (SIMD exp); everything after is arithmetic per value.
        INDArray qt = Nd4j.createUninitialized(DataType.FLOAT, n, v);
        double[] lseT = kernels.softmaxRows(logits, inv, qt);
        INDArray q1 = Nd4j.createUninitialized(DataType.FLOAT, n, v);
        double[] lse1 = kernels.softmaxRows(logits, 1f, q1);
        INDArray probs = null;
        double[] lseP = null;
        if (teacher instanceof Dense d) {
            if (d.logits().rows() != n || d.logits().columns() != v) {
                throw new IllegalArgumentException("teacher logits " + java.util.Arrays.toString(d.logits().shape())
                        + " for student logits [" + n + ", " + v + "]: the two models must share a vocabulary");
            }
            probs = Nd4j.createUninitialized(DataType.FLOAT, n, v);
            lseP = kernels.softmaxRows(d.logits(), inv, probs);
        }
        double[] kd = new double[n];
        double[] ce = new double[n];
        double perRow = scale / n;
        FloatBuffer s = JavaKernels.buffer(logits);
        for (int r = 0; r < n; r++) { // before the gradient overwrites the logits: grad may be logits
            ce[r] = lse1[r] - s.get(r * v + targets[r]);
        }
        FloatBuffer qtB = JavaKernels.buffer(qt);
        FloatBuffer q1B = JavaKernels.buffer(q1);
        FloatBuffer g = grad == null ? null : JavaKernels.buffer(grad);
        if (top == null) {
            FloatBuffer tB = JavaKernels.buffer(((Dense) teacher).logits());
            FloatBuffer pB = JavaKernels.buffer(probs);
            double[] lsePs = lseP;
            JavaKernels.rows(n, v, (from, to) -> {
                Rows rows = new Rows(s, tB, pB, qtB, q1B, g, v);
                for (int r = from; r < to; r++) {
                    kd[r] = dense(r, v, rows, lseT[r], lsePs[r], inv, perRow);
                }
            });
        } else {
            JavaKernels.rows(n, v, (from, to) -> {
                Buckets buckets = new Buckets(top.k());
                for (int r = from; r < to; r++) {
                    int o = r * v;
                    kd[r] = buckets.divergence(top, r, s, o, qtB, lseT[r], inv);
                    if (g != null) {
                        buckets.gradient(top, r, o, v, qtB, q1B, g, perRow);
                    }
                }
            });
        }
        if (g != null) {
            float hard = (float) (perRow * (1 - kdRatio));
            for (int r = 0; r < n; r++) {
                g.put(r * v + targets[r], g.get(r * v + targets[r]) - hard);
            }
        }
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

    /**
     * D of row r for a dense teacher and, when {@code g} is not null, the mixed gradient (but for the
     * target's −1, added by the caller). The row's values are copied into arrays first: loops over
     * float arrays compile to SIMD, loops over NIO buffers do not. log p − log q is (t − s)/τ + lse_q
     * − lse_p, and Σh is known for the two KLs (−1 and D + 1), so they keep no h.
     */
    private double dense(int r, int v, Rows a, double lseT, double lseP, float inv, double perRow) {
        a.load(r);
        float soft = (float) (perRow * kdRatio * temperature); // τ² · ∂/∂(z/τ) · 1/τ
        float hard = (float) (perRow * (1 - kdRatio));
        float shift = (float) (lseT - lseP);
        float[] s = a.s;
        float[] t = a.t;
        float[] p = a.p;
        float[] q = a.qt;
        float[] q1 = a.q1;
        float[] out = a.out;
        double d = 0;
        switch (divergence) {
            case FORWARD_KL -> { // Σ p (log p − log q); p·log p is 0 where p is
                for (int j = 0; j < v; j++) {
                    float pj = p[j];
                    d += pj > 0 ? pj * ((t[j] - s[j]) * inv + shift) : 0;
                }
                for (int j = 0; j < v; j++) { // h_j − q_j·Σh = q_j − p_j
                    out[j] = soft * (q[j] - p[j]) + hard * q1[j];
                }
            }
            case REVERSE_KL -> {
                for (int j = 0; j < v; j++) {
                    d += q[j] * ((s[j] - t[j]) * inv - shift);
                }
                float dd = (float) d;
                for (int j = 0; j < v; j++) { // h_j − q_j·Σh = q_j (log q_j − log p_j − D)
                    out[j] = soft * q[j] * ((s[j] - t[j]) * inv - shift - dd) + hard * q1[j];
                }
            }
            default -> {
                double hSum = 0;
                float lseQ = (float) lseT;
                float lsePf = (float) lseP;
                for (int j = 0; j < v; j++) {
                    float pj = p[j];
                    float qj = q[j];
                    float lm = (float) Math.log(Math.max(beta * pj + (1 - beta) * qj, Double.MIN_NORMAL));
                    float h = qj > 0 ? (float) (1 - beta) * qj * (s[j] * inv - lseQ - lm) : 0;
                    d += (pj > 0 ? beta * pj * (t[j] * inv - lsePf - lm) : 0) + h;
                    hSum += h;
                    out[j] = h;
                }
                float hs = (float) hSum;
                for (int j = 0; j < v; j++) {
                    out[j] = soft * (out[j] - q[j] * hs) + hard * q1[j];
                }
            }
        }
        a.store(r);
        return d;
    }

    /** One thread's copies of a row of every [N, V] operand (see {@link #dense}). */
    private static final class Rows {
        final FloatBuffer sB;
        final FloatBuffer tB;
        final FloatBuffer pB;
        final FloatBuffer qtB;
        final FloatBuffer q1B;
        final FloatBuffer gB;
        final int v;
        final float[] s;
        final float[] t;
        final float[] p;
        final float[] qt;
        final float[] q1;
        final float[] out;

        Rows(FloatBuffer s, FloatBuffer t, FloatBuffer p, FloatBuffer qt, FloatBuffer q1, FloatBuffer g, int v) {
            this.sB = s;
            this.tB = t;
            this.pB = p;
            this.qtB = qt;
            this.q1B = q1;
            this.gB = g;
            this.v = v;
            this.s = new float[v];
            this.t = new float[v];
            this.p = new float[v];
            this.qt = new float[v];
            this.q1 = new float[v];
            this.out = new float[v];
        }

        void load(int r) {
            int o = r * v;
            sB.get(o, s, 0, v);
            tB.get(o, t, 0, v);
            pB.get(o, p, 0, v);
            qtB.get(o, qt, 0, v);
            q1B.get(o, q1, 0, v);
        }

        void store(int r) {
            if (gB != null) {
                gB.put(r * v, out, 0, v);
            }
        }
    }

    /** A sparse teacher's row as k + 1 buckets: the teacher's top tokens, then every other token. */
    private final class Buckets {
        final double[] p;
        final double[] logP;
        final double[] q;
        final double[] logQ;
        /** Q_b · ∂D/∂Q_b per bucket, and its sum. */
        final double[] h;
        double hSum;

        Buckets(int k) {
            h = new double[k + 1];
            p = new double[k + 1];
            logP = new double[k + 1];
            q = new double[k + 1];
            logQ = new double[k + 1];
        }

        /** D over the buckets of row r; fills h (per bucket) and hSum. */
        double divergence(TopK top, int r, FloatBuffer s, int o, FloatBuffer qt, double lseT, float inv) {
            int k = top.k();
            double tmax = top.restLse()[r];
            for (int i = 0; i < k; i++) {
                tmax = Math.max(tmax, top.logits()[r * k + i] * inv);
            }
            double sum = Math.exp(top.restLse()[r] - tmax);
            double qTop = 0;
            for (int i = 0; i < k; i++) {
                sum += Math.exp(top.logits()[r * k + i] * inv - tmax);
                int id = top.ids()[r * k + i];
                q[i] = qt.get(o + id);
                logQ[i] = s.get(o + id) * inv - lseT;
                qTop += q[i];
            }
            double lse = tmax + Math.log(sum);
            for (int i = 0; i < k; i++) {
                logP[i] = top.logits()[r * k + i] * inv - lse;
                p[i] = Math.exp(logP[i]);
            }
            logP[k] = top.restLse()[r] - lse;
            p[k] = Math.exp(logP[k]);
            q[k] = Math.max(0, 1 - qTop);
            logQ[k] = safeLog(q[k]);
            double d = 0;
            hSum = 0;
            for (int b = 0; b <= k; b++) {
                double term;
                switch (divergence) {
                    case FORWARD_KL -> {
                        term = p[b] > 0 ? p[b] * (logP[b] - logQ[b]) : 0;
                        h[b] = -p[b];
                    }
                    case REVERSE_KL -> {
                        double diff = logQ[b] - logP[b];
                        term = q[b] > 0 ? q[b] * diff : 0;
                        h[b] = q[b] > 0 ? q[b] * (diff + 1) : 0;
                    }
                    default -> {
                        double lm = safeLog(beta * p[b] + (1 - beta) * q[b]);
                        h[b] = q[b] > 0 ? (1 - beta) * q[b] * (logQ[b] - lm) : 0;
                        term = (p[b] > 0 ? beta * p[b] * (logP[b] - lm) : 0) + h[b];
                    }
                }
                d += term;
                hSum += h[b];
            }
            return d;
        }

        /** The gradient of a sparse row, for token j in bucket b: (q_j/Q_b · h_b − q_j · Σh) / τ, mixed. */
        void gradient(TopK top, int r, int o, int v, FloatBuffer qt, FloatBuffer q1, FloatBuffer g, double perRow) {
            double soft = perRow * kdRatio * temperature;
            double hard = perRow * (1 - kdRatio);
            int k = top.k();
            double restShare = q[k] > 0 ? h[k] / q[k] : 0; // q_j/Q_rest · h_rest = q_j · this
            for (int j = 0; j < v; j++) {
                g.put(o + j, (float) (soft * qt.get(o + j) * (restShare - hSum) + hard * q1.get(o + j)));
            }
            for (int i = 0; i < k; i++) { // the k tokens have buckets of their own: q_j/Q_b · h_b = h_b
                int j = top.ids()[r * k + i];
                g.put(o + j, (float) (soft * (h[i] - qt.get(o + j) * hSum) + hard * q1.get(o + j)));
            }
        }
    }

    private static double safeLog(double x) {
        return Math.log(Math.max(x, Double.MIN_NORMAL));
    }
}
