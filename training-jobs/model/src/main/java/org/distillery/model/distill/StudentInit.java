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
 *
 * <p>A Llama student copies every tensor of a block whose shape it shares. With fewer key/value heads, each of
 * its key and value heads starts as the mean of the teacher's heads in its group, as GQA is made from a
 * multi-head checkpoint (Ainslie et al., 2023); with another MLP width, its MLP starts afresh. A separate LM
 * head is copied or projected as the embedding is.
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
        if (!student.arch().equals(t.arch())) {
            throw new DistilleryException("the student is " + student.arch() + " but the teacher " + t.arch()
                    + ": init from the teacher needs one architecture (or student.init: random)");
        }
        if (t.llama() != null) {
            return fromLlamaTeacher(teacher, student, layers, seed);
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

    private static GptParameters fromLlamaTeacher(GptParameters teacher, GptConfig student, List<Integer> layers,
                                                  long seed) {
        GptConfig t = teacher.config();
        GptParameters s = GptParameters.initialize(student, seed);
        boolean head = !student.llama().tieWordEmbeddings();
        if (student.nEmbd() != t.nEmbd()) {
            if (layers != null) {
                throw new DistilleryException("student.layers copies teacher blocks, which needs student.n_embd equal"
                        + " to the teacher's " + t.nEmbd() + ", found " + student.nEmbd());
            }
            INDArray projection = principalDirections(teacher.embedding(), student.nEmbd());
            s.embedding().assign(teacher.embedding().mmul(projection));
            if (head) {
                s.head().assign(teacher.head().mmul(projection));
            }
            return s;
        }
        s.embedding().assign(teacher.embedding());
        s.get("norm.weight").assign(teacher.get("norm.weight"));
        if (head) {
            s.head().assign(teacher.head());
        }
        List<Integer> from = layers != null ? layers : evenlySpaced(t.nLayer(), student.nLayer());
        if (from.size() != student.nLayer()) {
            throw new DistilleryException("student.layers lists " + from.size() + " teacher blocks for "
                    + student.nLayer() + " student blocks");
        }
        if (student.nHead() != t.nHead()) {
            throw new DistilleryException("student.n_head is " + student.nHead() + " but copied blocks split"
                    + " attention into the teacher's " + t.nHead() + " heads: use the teacher's n_head");
        }
        if (t.kvHeads() % student.kvHeads() != 0) {
            throw new DistilleryException("student.n_kv_head is " + student.kvHeads() + ", which does not divide the"
                    + " teacher's " + t.kvHeads() + " key/value heads that copied blocks pool into it");
        }
        for (int i = 0; i < from.size(); i++) {
            int l = from.get(i);
            if (l >= t.nLayer()) {
                throw new DistilleryException("student.layers[" + i + "] is " + l + ", but the teacher has blocks 0 to "
                        + (t.nLayer() - 1));
            }
            String own = GptParameters.layerPrefix(student, i);
            for (String name : s.names()) {
                if (!name.startsWith(own)) {
                    continue;
                }
                String rest = name.substring(own.length());
                INDArray mine = s.get(name);
                INDArray theirs = teacher.layer(l, rest);
                if (java.util.Arrays.equals(mine.shape(), theirs.shape())) {
                    mine.assign(theirs);
                } else if (rest.startsWith("self_attn.qkv_proj.")) {
                    poolKeyValueHeads(theirs, mine, t, student);
                } // else another MLP width: the MLP starts afresh
            }
        }
        return s;
    }

    /**
     * A fused q/k/v weight ({@code [C, (H + 2K) d]}) or bias of the teacher into the student's with fewer key/value
     * heads: q as it is, each student key (value) head the mean of the teacher's heads it stands for.
     */
    private static void poolKeyValueHeads(INDArray teacher, INDArray student, GptConfig t, GptConfig s) {
        boolean bias = teacher.rank() == 1;
        INDArray tw = bias ? teacher.reshape(1, teacher.length()) : teacher;
        INDArray sw = bias ? student.reshape(1, student.length()) : student;
        int d = t.headSize();
        long q = t.nEmbd();
        int group = t.kvHeads() / s.kvHeads();
        sw.get(NDArrayIndex.all(), NDArrayIndex.interval(0, q)).assign(tw.get(NDArrayIndex.all(),
                NDArrayIndex.interval(0, q)));
        for (int part = 0; part < 2; part++) {
            long tFrom = q + (long) part * t.kvHeads() * d;
            long sFrom = q + (long) part * s.kvHeads() * d;
            for (int h = 0; h < s.kvHeads(); h++) {
                INDArray sum = sw.get(NDArrayIndex.all(), NDArrayIndex.interval(sFrom + (long) h * d,
                        sFrom + (long) (h + 1) * d));
                sum.assign(0);
                for (int j = 0; j < group; j++) {
                    long at = tFrom + (long) (h * group + j) * d;
                    sum.addi(tw.get(NDArrayIndex.all(), NDArrayIndex.interval(at, at + d)));
                }
                sum.divi(group);
            }
        }
        if (bias && sw.data() != student.data()) { // a reshape that copied: write back
            student.assign(sw.reshape(student.shape()));
        }
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
