package org.distillery.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.SplittableRandom;
import org.distillery.model.DistillationLoss.Divergence;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Each divergence against a hand computation: closed forms on a three-token vocabulary, then a plain
 * double-precision reference on random rows, whose central differences check every gradient.
 */
@Tag("numerical")
class DistillationLossTest {
    private static final double LN2 = Math.log(2);

    private static INDArray row(double... v) {
        return Nd4j.createFromArray(v).castTo(DataType.FLOAT).reshape(1, v.length);
    }

    @Test
    void closedFormsOnThreeTokens() {
        // student uniform q = (1/3, 1/3, 1/3); teacher p = (1/2, 1/4, 1/4) at τ = 1
        INDArray student = row(0, 0, 0);
        DistillationLoss.Dense teacher = new DistillationLoss.Dense(row(LN2, 0, 0));
        int[] target = {0};
        double fkl = 0.5 * Math.log(1.5) + 0.5 * Math.log(0.75);
        double rkl = (Math.log(2.0 / 3) + 2 * Math.log(4.0 / 3)) / 3;
        assertEquals(fkl, new DistillationLoss(Divergence.FORWARD_KL, 0, 1, 1).apply(student, teacher, target, null, 1)
                .loss(), 1e-6);
        assertEquals(rkl, new DistillationLoss(Divergence.REVERSE_KL, 0, 1, 1).apply(student, teacher, target, null, 1)
                .loss(), 1e-6);
        // JSD at β = 1/2: m = (5/12, 7/24, 7/24)
        double[] p = {0.5, 0.25, 0.25};
        double[] m = {5.0 / 12, 7.0 / 24, 7.0 / 24};
        double jsd = 0;
        for (int i = 0; i < 3; i++) {
            jsd += 0.5 * p[i] * Math.log(p[i] / m[i]) + 0.5 / 3 * Math.log((1.0 / 3) / m[i]);
        }
        assertEquals(jsd, new DistillationLoss(Divergence.JSD, 0.5, 1, 1).apply(student, teacher, target, null, 1)
                .loss(), 1e-6);
        // kd_ratio 0 is the cross-entropy: -log(1/3); the gradient is q - onehot
        INDArray grad = Nd4j.createUninitialized(DataType.FLOAT, 1, 3);
        DistillationLoss.Value ce = new DistillationLoss(Divergence.FORWARD_KL, 0, 1, 0).apply(student, teacher, target,
                grad, 1);
        assertEquals(Math.log(3), ce.loss(), 1e-6);
        assertEquals(-2.0 / 3, grad.getDouble(0, 0), 1e-6);
        assertEquals(1.0 / 3, grad.getDouble(0, 1), 1e-6);
        // forward KL's gradient is τ (q_τ - p_τ) with the τ² factor: at τ = 1, q - p
        new DistillationLoss(Divergence.FORWARD_KL, 0, 1, 1).apply(student, teacher, target, grad, 1);
        assertEquals(1.0 / 3 - 0.5, grad.getDouble(0, 0), 1e-6);
        assertEquals(1.0 / 3 - 0.25, grad.getDouble(0, 2), 1e-6);
        // the temperature softens both: at τ = 2 the teacher is (√2, 1, 1)/(2 + √2); loss τ²·KL
        double s2 = Math.sqrt(2);
        double[] pt = {s2 / (2 + s2), 1 / (2 + s2), 1 / (2 + s2)};
        double kl2 = 0;
        for (double x : pt) {
            kl2 += x * Math.log(x * 3);
        }
        assertEquals(4 * kl2, new DistillationLoss(Divergence.FORWARD_KL, 0, 2, 1).apply(student, teacher, target, null, 1)
                .loss(), 1e-6);
    }

    @Test
    void jsdEndpointsAreTheTwoKls() {
        SplittableRandom r = new SplittableRandom(3);
        INDArray s = random(r, 4, 9, 2);
        DistillationLoss.Dense t = new DistillationLoss.Dense(random(r, 4, 9, 2));
        int[] targets = {1, 2, 3, 4};
        assertEquals(new DistillationLoss(Divergence.FORWARD_KL, 0, 1.5, 0.7).apply(s, t, targets, null, 1).loss(),
                new DistillationLoss(Divergence.JSD, 0, 1.5, 0.7).apply(s, t, targets, null, 1).loss(), 1e-12);
        assertEquals(new DistillationLoss(Divergence.REVERSE_KL, 0, 1.5, 0.7).apply(s, t, targets, null, 1).loss(),
                new DistillationLoss(Divergence.JSD, 1, 1.5, 0.7).apply(s, t, targets, null, 1).loss(), 1e-12);
    }

    // ---- a plain reference, in double --------------------------------------------------------------

    private static double[] softmax(double[] z, double tau) {
        double max = Double.NEGATIVE_INFINITY;
        for (double x : z) {
            max = Math.max(max, x / tau);
        }
        double[] p = new double[z.length];
        double sum = 0;
        for (int i = 0; i < z.length; i++) {
            p[i] = Math.exp(z[i] / tau - max);
            sum += p[i];
        }
        for (int i = 0; i < z.length; i++) {
            p[i] /= sum;
        }
        return p;
    }

    private static double kl(double[] a, double[] b) {
        double d = 0;
        for (int i = 0; i < a.length; i++) {
            if (a[i] > 0) {
                d += a[i] * Math.log(a[i] / b[i]);
            }
        }
        return d;
    }

    private static double divergence(Divergence d, double beta, double[] p, double[] q) {
        return switch (d) {
            case FORWARD_KL -> kl(p, q);
            case REVERSE_KL -> kl(q, p);
            case JSD -> {
                double[] m = new double[p.length];
                for (int i = 0; i < p.length; i++) {
                    m[i] = beta * p[i] + (1 - beta) * q[i];
                }
                yield beta * kl(p, m) + (1 - beta) * kl(q, m);
            }
        };
    }

    /**
     * The mean loss of one set of rows. A sparse teacher (k ids per row, or k = 0 for dense) groups
     * both distributions into the k tokens and the rest.
     */
    private static double reference(double[][] s, double[][] t, int[] targets, Divergence d, double beta, double tau,
                                    double ratio, int[][] topIds) {
        double sum = 0;
        for (int r = 0; r < s.length; r++) {
            double[] q = softmax(s[r], tau);
            double[] p = softmax(t[r], tau);
            if (topIds != null) {
                q = bucket(q, topIds[r]);
                p = bucket(p, topIds[r]);
            }
            double ce = -Math.log(softmax(s[r], 1)[targets[r]]);
            sum += ratio * tau * tau * divergence(d, beta, p, q) + (1 - ratio) * ce;
        }
        return sum / s.length;
    }

    private static double[] bucket(double[] p, int[] ids) {
        double[] b = new double[ids.length + 1];
        double top = 0;
        for (int i = 0; i < ids.length; i++) {
            b[i] = p[ids[i]];
            top += b[i];
        }
        double rest = 0;
        java.util.Set<Integer> in = new java.util.HashSet<>();
        for (int id : ids) {
            in.add(id);
        }
        for (int j = 0; j < p.length; j++) {
            if (!in.contains(j)) {
                rest += p[j];
            }
        }
        b[ids.length] = rest;
        return b;
    }

    private static INDArray random(SplittableRandom r, int n, int v, double spread) {
        double[] x = new double[n * v];
        for (int i = 0; i < x.length; i++) {
            x[i] = (r.nextDouble() - 0.5) * 2 * spread;
        }
        return Nd4j.createFromArray(x).castTo(DataType.FLOAT).reshape(n, v);
    }

    private static double[][] rows(INDArray a) {
        return a.castTo(DataType.DOUBLE).toDoubleMatrix();
    }

    /** The k highest teacher logits of each row, as a TopK teacher stored for τ. */
    private static DistillationLoss.TopK topK(double[][] t, int k, double tau) {
        int n = t.length;
        int[] ids = new int[n * k];
        float[] logits = new float[n * k];
        float[] rest = new float[n];
        for (int r = 0; r < n; r++) {
            Integer[] order = new Integer[t[r].length];
            for (int j = 0; j < order.length; j++) {
                order[j] = j;
            }
            int row = r;
            java.util.Arrays.sort(order, (a, b) -> Double.compare(t[row][b], t[row][a]));
            double restSum = 0;
            for (int j = 0; j < order.length; j++) {
                if (j < k) {
                    ids[r * k + j] = order[j];
                    logits[r * k + j] = (float) t[r][order[j]];
                } else {
                    restSum += Math.exp(t[r][order[j]] / tau);
                }
            }
            rest[r] = (float) Math.log(restSum);
        }
        return new DistillationLoss.TopK(k, ids, logits, rest);
    }

    /** On every engine: the softmaxes run on the engine's kernel. */
    @Test
    void lossesAndGradientsMatchTheReferenceAndItsCentralDifferences() {
        for (Kernels engine : new Kernels[] {new VectorKernels(), new JavaKernels(), new Nd4jKernels()}) {
            checkAgainstReference(engine);
        }
    }

    private void checkAgainstReference(Kernels engine) {
        SplittableRandom rng = new SplittableRandom(11);
        int n = 3;
        int v = 19; // not a multiple of any vector width
        for (Divergence d : Divergence.values()) {
            for (double beta : d == Divergence.JSD ? new double[] {0.1, 0.5, 0.9} : new double[] {0}) {
                for (double tau : new double[] {1, 2.5}) {
                    for (double ratio : new double[] {0, 0.4, 1}) {
                        for (int k : new int[] {0, 3}) { // dense, then a top-3 teacher
                            INDArray s = random(rng, n, v, 3);
                            INDArray tl = random(rng, n, v, 3);
                            int[] targets = rng.ints(n, 0, v).toArray();
                            double[][] sd = rows(s);
                            double[][] td = rows(tl);
                            DistillationLoss.TopK top = k == 0 ? null : topK(td, k, tau);
                            int[][] ids = null;
                            if (top != null) {
                                ids = new int[n][k];
                                for (int r = 0; r < n; r++) {
                                    for (int i = 0; i < k; i++) {
                                        ids[r][i] = top.ids()[r * k + i];
                                        td[r][ids[r][i]] = top.logits()[r * k + i]; // what was stored, as floats
                                    }
                                }
                            }
                            DistillationLoss loss = new DistillationLoss(d, beta, tau, ratio, engine);
                            DistillationLoss.Teacher teacher = top != null ? top : new DistillationLoss.Dense(tl);
                            INDArray grad = Nd4j.createUninitialized(DataType.FLOAT, n, v);
                            double scale = 0.5;
                            double got = loss.apply(s, teacher, targets, grad, scale).loss();
                            String what = engine.name() + " " + d + " β=" + beta + " τ=" + tau + " ratio=" + ratio + " k=" + k;
                            double want = reference(sd, td, targets, d, beta, tau, ratio, ids);
                            assertEquals(want, got, 2e-5 * Math.max(1, Math.abs(want)), what);
                            double h = 1e-5;
                            for (int r = 0; r < n; r++) {
                                for (int j = 0; j < v; j++) {
                                    double keep = sd[r][j];
                                    sd[r][j] = keep + h;
                                    double up = reference(sd, td, targets, d, beta, tau, ratio, ids);
                                    sd[r][j] = keep - h;
                                    double down = reference(sd, td, targets, d, beta, tau, ratio, ids);
                                    sd[r][j] = keep;
                                    double fd = scale * (up - down) / (2 * h);
                                    assertEquals(fd, grad.getDouble(r, j), 2e-5, what + " ∂/∂z[" + r + "," + j + "]");
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    @Test
    void aTopKTeacherHoldingEveryTokenIsTheDenseTeacher() {
        SplittableRandom rng = new SplittableRandom(5);
        INDArray s = random(rng, 2, 6, 2);
        INDArray t = random(rng, 2, 6, 2);
        double[][] td = rows(t);
        DistillationLoss.TopK all = topK(td, 6, 2.0);
        DistillationLoss.TopK full = new DistillationLoss.TopK(6, all.ids(), all.logits(),
                new float[] {Float.NEGATIVE_INFINITY, Float.NEGATIVE_INFINITY});
        DistillationLoss loss = new DistillationLoss(Divergence.JSD, 0.3, 2.0, 0.5);
        int[] targets = {0, 5};
        INDArray g1 = Nd4j.createUninitialized(DataType.FLOAT, 2, 6);
        INDArray g2 = Nd4j.createUninitialized(DataType.FLOAT, 2, 6);
        double a = loss.apply(s, new DistillationLoss.Dense(t), targets, g1, 1).loss();
        double b = loss.apply(s, full, targets, g2, 1).loss();
        assertEquals(a, b, 1e-6);
        assertEquals(0, g1.sub(g2).amaxNumber().doubleValue(), 1e-6);
    }

    @Test
    void theGradientMayOverwriteTheLogits() {
        SplittableRandom rng = new SplittableRandom(8);
        INDArray s = random(rng, 3, 5, 2);
        INDArray t = random(rng, 3, 5, 2);
        DistillationLoss loss = new DistillationLoss(Divergence.REVERSE_KL, 0, 2, 0.6);
        int[] targets = {1, 2, 0};
        INDArray separate = Nd4j.createUninitialized(DataType.FLOAT, 3, 5);
        double a = loss.apply(s, new DistillationLoss.Dense(t), targets, separate, 1).loss();
        INDArray inPlace = s.dup();
        double b = loss.apply(inPlace, new DistillationLoss.Dense(t), targets, inPlace, 1).loss();
        assertEquals(a, b, 0);
        assertEquals(separate, inPlace);
    }

    @Test
    void badOptionsAreErrors() {
        assertThrows(IllegalArgumentException.class, () -> new DistillationLoss(Divergence.FORWARD_KL, 0, 0, 0.5));
        assertThrows(IllegalArgumentException.class, () -> new DistillationLoss(Divergence.FORWARD_KL, 0, 1, 1.5));
        assertThrows(IllegalArgumentException.class, () -> new DistillationLoss(Divergence.JSD, -0.1, 1, 0.5));
        assertThrows(IllegalArgumentException.class, () -> Divergence.parse("kl_div"));
    }
}
