package org.distillery.model.distill;

import java.util.List;
import org.distillery.model.Gpt;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * A loss between the student's and the teacher's hidden states at chosen pairs of layers (layer 0 is
 * the embeddings, layer l the residual stream after block l): mean squared error, as TinyBERT, or one
 * minus the cosine of each position's vectors, as DistilBERT. When the widths differ, the student's
 * states go through a learned projection {@code W [C_student, C_teacher]} per pair first; those
 * weights are {@link #parameters()}, which the training loop optimizes and checkpoints with the model.
 *
 * <p>The value is {@code mean over pairs} of the per-pair loss; the caller weighs it. Set the teacher's
 * states with {@link #teacher(INDArray[])} before each {@link #apply}.
 */
public final class HiddenStateLoss implements Gpt.HiddenLoss {
    public enum Kind {
        MSE, COSINE;

        public static Kind parse(String name) {
            return valueOf(name.toUpperCase(java.util.Locale.ROOT));
        }
    }

    /** A student layer and the teacher layer it learns from. */
    public record Pair(int student, int teacher) {
    }

    /** TinyBERT's uniform mapping: student layer i (1..Ls) learns from teacher layer round(i · Lt / Ls). */
    public static List<Pair> uniformPairs(int studentLayers, int teacherLayers) {
        List<Pair> pairs = new java.util.ArrayList<>();
        for (int i = 1; i <= studentLayers; i++) {
            pairs.add(new Pair(i, (int) Math.round((double) i * teacherLayers / studentLayers)));
        }
        return pairs;
    }

    private final Kind kind;
    private final double weight;
    private final int[] studentLayers;
    private final int[] teacherLayers;
    private final int studentWidth;
    private final int teacherWidth;
    /** Every pair's projection in one flat buffer (null when the widths are equal), and its gradient. */
    private final INDArray projections;
    private final INDArray gradients;
    private INDArray[] targets;
    private double sum;
    private int count;

    /**
     * {@code init}: the first value of every projection ({@code [C_student, C_teacher]}), used only when
     * the widths differ.
     */
    public HiddenStateLoss(Kind kind, double weight, List<Pair> pairs, int studentWidth, int teacherWidth,
                           INDArray init) {
        this.kind = kind;
        this.weight = weight;
        this.studentLayers = pairs.stream().mapToInt(Pair::student).toArray();
        this.teacherLayers = pairs.stream().mapToInt(Pair::teacher).toArray();
        this.studentWidth = studentWidth;
        this.teacherWidth = teacherWidth;
        if (studentWidth != teacherWidth) {
            long each = (long) studentWidth * teacherWidth;
            projections = Nd4j.createUninitializedDetached(DataType.FLOAT, each * pairs.size());
            for (int i = 0; i < pairs.size(); i++) {
                projection(projections, i).assign(init);
            }
            gradients = Nd4j.zeros(DataType.FLOAT, projections.length());
        } else {
            projections = null;
            gradients = null;
        }
    }

    /** The student layers, in pair order (what {@link Gpt} reads for {@link #apply}). */
    @Override
    public int[] layers() {
        return studentLayers.clone();
    }

    public int[] teacherLayers() {
        return teacherLayers.clone();
    }

    public double weight() {
        return weight;
    }

    /** The learned projections as one flat buffer, or null when student and teacher have one width. */
    public INDArray parameters() {
        return projections;
    }

    /** The projections' accumulated gradient (null with the parameters). */
    public INDArray gradients() {
        return gradients;
    }

    /** The teacher's states at {@link #teacherLayers()}, {@code [N, C_teacher]} each, for the next {@link #apply}. */
    public void teacher(INDArray[] states) {
        this.targets = states;
    }

    /**
     * Returns {@code weight} times the mean loss over pairs; writes {@code scale} times its gradient with
     * respect to the student's states into {@code grad} and adds it to the projections' gradient.
     */
    @Override
    public double apply(INDArray[] hidden, INDArray[] grad, double scale) {
        double mean = 0;
        double coefficient = weight * scale / studentLayers.length;
        for (int i = 0; i < studentLayers.length; i++) {
            INDArray w = projections == null ? null : projection(projections, i);
            INDArray dw = projections == null ? null : projection(gradients, i);
            mean += pair(kind, hidden[i], w, targets[i], grad[i], dw, coefficient) / studentLayers.length;
        }
        sum += mean;
        count++;
        return weight * mean;
    }

    /** The mean unweighted loss since the last call, for logging ({@code NaN} when none). */
    public double takeMean() {
        return take().mean();
    }

    /** The losses since the last call, as a sum and a count (ranks add theirs before the mean is taken). */
    public org.distillery.model.train.TrainJob.Part take() {
        org.distillery.model.train.TrainJob.Part p = new org.distillery.model.train.TrainJob.Part(sum, count);
        sum = 0;
        count = 0;
        return p;
    }

    private INDArray projection(INDArray flat, int pair) {
        long each = (long) studentWidth * teacherWidth;
        return flat.get(NDArrayIndex.interval(each * pair, each * (pair + 1))).reshape('c', studentWidth, teacherWidth);
    }

    /**
     * One pair's loss between {@code student [N, Cs]} (projected by {@code w [Cs, Ct]} unless null) and
     * {@code teacher [N, Ct]}; writes {@code coefficient} times the gradient into {@code dStudent} and
     * adds it to {@code dw}. Works in the arrays' own data type (tests use doubles).
     */
    static double pair(Kind kind, INDArray student, INDArray w, INDArray teacher, INDArray dStudent, INDArray dw,
                       double coefficient) {
        INDArray p = w == null ? student : student.mmul(w);
        long n = p.rows();
        INDArray dp;
        double value;
        if (kind == Kind.MSE) {
            INDArray diff = p.sub(teacher);
            double count = (double) n * p.columns();
            value = diff.mul(diff).sumNumber().doubleValue() / count;
            dp = diff.muli(2 * coefficient / count);
        } else {
            // 1 - cos(p, t) per row; d cos/dp = t / (|p||t|) - cos p / |p|^2
            INDArray pn = p.norm2(1).reshape(n, 1);
            INDArray tn = teacher.norm2(1).reshape(n, 1);
            Transforms.max(pn, 1e-8, false);
            Transforms.max(tn, 1e-8, false);
            INDArray cos = p.mul(teacher).sum(true, 1).divi(pn).divi(tn);
            value = n - cos.sumNumber().doubleValue();
            value /= n;
            INDArray dcos = teacher.divColumnVector(pn.mul(tn)).subi(p.mulColumnVector(cos.div(pn.mul(pn))));
            dp = dcos.muli(-coefficient / n);
        }
        if (w == null) {
            dStudent.assign(dp);
        } else {
            dw.addi(student.transpose().mmul(dp));
            dStudent.assign(dp.mmul(w.transpose()));
        }
        return value;
    }
}
