package org.distillery.model.distill;

import java.util.ArrayList;
import java.util.List;
import org.distillery.core.DistilleryException;
import org.distillery.model.GptConfig;
import org.distillery.model.GptParameters;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.eigen.Eigen;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * A student's first weights taken from its teacher, as DistilBERT and DistilGPT2 were made: token and
 * position embeddings copied (or, for a narrower student, projected onto the teacher embedding's top
 * principal directions), and at the teacher's width whole transformer blocks copied, the teacher's
 * {@code layers[i]} into the student's block i. Whatever is not copied keeps its fresh initialisation.
 */
public final class StudentInit {
    private StudentInit() {
    }

    /** Evenly spaced teacher blocks, one per student block: every other one for half the depth. */
    public static List<Integer> evenlySpaced(int teacherLayers, int studentLayers) {
        List<Integer> out = new ArrayList<>();
        for (int i = 0; i < studentLayers; i++) {
            out.add((int) ((long) i * teacherLayers / studentLayers));
        }
        return out;
    }

    /**
     * The student's parameters: a fresh initialisation of {@code student} (seeded), overwritten from
     * {@code teacher}. {@code layers} (null: {@link #evenlySpaced}) are only copied at equal width;
     * errors name the spec field that asks for the impossible.
     */
    public static GptParameters fromTeacher(GptParameters teacher, GptConfig student, List<Integer> layers, long seed) {
        GptConfig t = teacher.config();
        if (student.vocabSize() != t.vocabSize()) {
            throw new DistilleryException("the student's vocabulary (" + student.vocabSize() + ") is not the teacher's ("
                    + t.vocabSize() + ")");
        }
        if (student.blockSize() > t.blockSize()) {
            throw new DistilleryException("student.block_size is " + student.blockSize() + ", longer than the teacher's "
                    + t.blockSize() + ": the teacher has no positions to copy or to score beyond that");
        }
        if (student.nEmbd() > t.nEmbd()) {
            throw new DistilleryException("student.n_embd is " + student.nEmbd() + ", wider than the teacher's "
                    + t.nEmbd() + ": init from the teacher needs a student as wide or narrower (or student.init: random)");
        }
        GptParameters s = GptParameters.initialize(student, seed);
        INDArray wpe = teacher.get("wpe.weight").get(NDArrayIndex.interval(0, student.blockSize()), NDArrayIndex.all());
        if (student.nEmbd() == t.nEmbd()) {
            s.get("wte.weight").assign(teacher.get("wte.weight"));
            s.get("wpe.weight").assign(wpe);
            s.get("ln_f.weight").assign(teacher.get("ln_f.weight"));
            s.get("ln_f.bias").assign(teacher.get("ln_f.bias"));
            List<Integer> from = layers != null ? layers : evenlySpaced(t.nLayer(), student.nLayer());
            if (from.size() != student.nLayer()) {
                throw new DistilleryException("student.layers lists " + from.size() + " teacher blocks for "
                        + student.nLayer() + " student blocks");
            }
            if (student.nHead() != t.nHead()) {
                throw new DistilleryException("student.n_head is " + student.nHead() + " but copied blocks split"
                        + " attention into the teacher's " + t.nHead() + " heads: use the teacher's n_head");
            }
            String prefix = "h.";
            for (int i = 0; i < from.size(); i++) {
                int l = from.get(i);
                if (l >= t.nLayer()) {
                    throw new DistilleryException("student.layers[" + i + "] is " + l + ", but the teacher has blocks 0 to "
                            + (t.nLayer() - 1));
                }
                for (String name : s.names()) {
                    String own = prefix + i + ".";
                    if (name.startsWith(own)) {
                        s.get(name).assign(teacher.get(prefix + l + "." + name.substring(own.length())));
                    }
                }
            }
        } else {
            if (layers != null) {
                throw new DistilleryException("student.layers copies teacher blocks, which needs student.n_embd equal"
                        + " to the teacher's " + t.nEmbd() + ", found " + student.nEmbd());
            }
            INDArray projection = principalDirections(teacher.get("wte.weight"), student.nEmbd());
            s.get("wte.weight").assign(teacher.get("wte.weight").mmul(projection));
            s.get("wpe.weight").assign(wpe.mmul(projection));
        }
        return s;
    }

    /**
     * The {@code k} unit directions along which the rows of {@code x} vary most, as the columns of a
     * {@code [C, k]} matrix: eigenvectors of the rows' covariance with the largest eigenvalues.
     */
    static INDArray principalDirections(INDArray x, int k) {
        INDArray d = x.castTo(DataType.DOUBLE);
        INDArray centred = d.subRowVector(d.mean(0));
        INDArray cov = centred.transpose().mmul(centred).divi(Math.max(1, x.rows() - 1));
        INDArray values = Eigen.symmetricGeneralizedEigenvalues(cov, true); // cov now holds eigenvectors, columns
        int c = (int) cov.columns();
        Integer[] order = new Integer[c];
        for (int i = 0; i < c; i++) {
            order[i] = i;
        }
        java.util.Arrays.sort(order, (a, b) -> Double.compare(values.getDouble(b), values.getDouble(a)));
        INDArray out = org.nd4j.linalg.factory.Nd4j.create(DataType.DOUBLE, c, k);
        for (int j = 0; j < k; j++) {
            out.putColumn(j, cov.getColumn(order[j]));
        }
        return out.castTo(x.dataType());
    }
}
