package org.distillery.model;

import java.util.ArrayList;
import java.util.List;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.memory.conf.WorkspaceConfiguration;
import org.nd4j.linalg.api.memory.enums.AllocationPolicy;
import org.nd4j.linalg.api.memory.enums.LearningPolicy;
import org.nd4j.linalg.api.memory.enums.MirroringPolicy;
import org.nd4j.linalg.api.memory.enums.SpillPolicy;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.random.impl.BernoulliDistribution;
import org.nd4j.linalg.api.rng.Random;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * GPT-2 with its forward and backward pass written out on ND4J arrays, as llm.c does in C: every
 * matrix product is one BLAS call on a whole batch, activations are kept only as long as the
 * backward pass needs them, and nothing is rebuilt per step. SameDiff builds the same network as a
 * graph ({@link GptGraph}); tests check this pass's gradients against SameDiff's autodiff.
 *
 * <p>Shapes: B sequences of T tokens, N = B*T rows, C = n_embd, H heads of size D = C/H, V = vocab.
 */
public final class Gpt {
    private final GptConfig c;
    private final GptParameters p;

    private final Kernels kernels;
    /** This model's step workspace: a teacher and its student on one thread each keep their own size. */
    private final String workspace = "gpt-step-" + WORKSPACES.incrementAndGet();
    private static final java.util.concurrent.atomic.AtomicLong WORKSPACES = new java.util.concurrent.atomic.AtomicLong();

    public Gpt(GptParameters parameters) {
        this(parameters, Kernels.forBackend());
    }

    Gpt(GptParameters parameters, Kernels kernels) {
        this.p = parameters;
        this.c = parameters.config();
        this.kernels = kernels;
    }

    public GptConfig config() {
        return c;
    }

    public GptParameters parameters() {
        return p;
    }

    /** The kernel engine this model runs on (for provenance and benchmarks). */
    public String engine() {
        return kernels.name();
    }

    /** B rows of T input tokens and, for training and evaluation, the next token after each. */
    public record Batch(int[] inputs, int[] targets, int batch, int time) {
        public Batch {
            if (inputs.length != batch * time || (targets != null && targets.length != inputs.length)) {
                throw new IllegalArgumentException("batch of " + batch + "x" + time + " needs " + batch * time + " tokens");
            }
        }
    }

    /** Logits {@code [B*T, V]} for every position. */
    public INDArray logits(int[] tokens, int batch, int time) {
        try (MemoryWorkspace ws = Nd4j.getWorkspaceManager().getAndActivateWorkspace(STEP, workspace)) {
            return forward(new Batch(tokens, null, batch, time), null).logits.detach();
        }
    }

    /**
     * Logits of every position into {@code out} ({@code [B*T, V]}, float, outside any workspace): a
     * teacher scoring batch after batch reuses one array, where {@link #logits(int[], int, int)} makes
     * a new one each time (a fresh off-heap allocation, as slow as the forward pass for small models).
     */
    public void logits(int[] tokens, int batch, int time, INDArray out) {
        try (MemoryWorkspace ws = Nd4j.getWorkspaceManager().getAndActivateWorkspace(STEP, workspace)) {
            out.assign(forward(new Batch(tokens, null, batch, time), null).logits);
        }
    }

    /** Logits {@code [V]} of the last position of one sequence. */
    public INDArray lastLogits(int[] tokens) {
        try (MemoryWorkspace ws = Nd4j.getWorkspaceManager().getAndActivateWorkspace(STEP, workspace)) {
            INDArray all = forward(new Batch(tokens, null, 1, tokens.length), null).logits;
            return all.getRow(tokens.length - 1).detach();
        }
    }

    /** Mean next-token cross-entropy (nats), no gradients and no dropout. */
    public double loss(Batch b) {
        try (MemoryWorkspace ws = Nd4j.getWorkspaceManager().getAndActivateWorkspace(STEP, workspace)) {
            Forward f = forward(b, null);
            return kernels.crossEntropy(f.logits, b.targets(), null, 0);
        }
    }

    /**
     * Forward and backward pass: adds {@code scale} times the gradient of the mean cross-entropy to
     * {@code grads} (so micro-batches accumulate) and returns the mean cross-entropy.
     * {@code dropoutSeed} fixes the dropout masks, which makes a step reproducible.
     */
    public double lossAndGradient(Batch b, GptParameters grads, double scale, long dropoutSeed) {
        return lossAndGradient(b, grads, scale, dropoutSeed, kernels::crossEntropy);
    }

    /**
     * A loss on the logits {@code [B*T, V]}: returns the mean loss and, when {@code grad} is not null,
     * writes {@code scale} times its gradient there ({@code grad} may be {@code logits} itself).
     */
    @FunctionalInterface
    public interface LogitLoss {
        double apply(INDArray logits, int[] targets, INDArray grad, double scale);
    }

    /** {@link #lossAndGradient(Batch, GptParameters, double, long)} of another loss on the logits. */
    public double lossAndGradient(Batch b, GptParameters grads, double scale, long dropoutSeed, LogitLoss loss) {
        try (MemoryWorkspace ws = Nd4j.getWorkspaceManager().getAndActivateWorkspace(STEP, workspace)) {
            Random rng = c.dropout() > 0 ? Nd4j.getRandomFactory().getNewRandomInstance(dropoutSeed) : null;
            Forward f = forward(b, rng);
            INDArray dlogits = f.logits; // overwritten in place by the loss gradient
            double value = loss.apply(f.logits, b.targets(), dlogits, scale);
            backward(f, dlogits, grads);
            return value;
        }
    }

    /**
     * Every temporary of a step lives in one workspace that is reset, not freed, between steps: the
     * first step learns its size. Without it, each step allocates and frees some hundred off-heap
     * arrays, and step times swing with the garbage collector.
     */
    private static final WorkspaceConfiguration STEP = WorkspaceConfiguration.builder()
            .initialSize(0)
            .policyAllocation(AllocationPolicy.OVERALLOCATE)
            .overallocationLimit(0.2)
            .policyLearning(LearningPolicy.FIRST_LOOP)
            .policyMirroring(MirroringPolicy.FULL)
            .policySpill(SpillPolicy.REALLOCATE)
            .build();

    // ---- forward ----------------------------------------------------------------------------------

    /** What the backward pass needs from the forward pass. */
    private static final class Forward {
        int batch;
        int time;
        int[] inputs;
        INDArray embedDropout;
        final List<Block> blocks = new ArrayList<>();
        Norm lnF;
        INDArray logits;
    }

    private static final class Block {
        Norm ln1;
        Attention attn;
        INDArray attnOut;
        INDArray attnDropout;
        Norm ln2;
        INDArray fc;
        INDArray gelu;
        INDArray geluTanh;
        INDArray mlpDropout;
    }

    private static final class Norm {
        INDArray xhat;
        INDArray rstd;
        INDArray y;
    }

    private static final class Attention {
        INDArray qkv;
        INDArray probs;
        INDArray dropout;
    }

    private Forward forward(Batch b, Random rng) {
        int bs = b.batch();
        int t = b.time();
        if (t > c.blockSize()) {
            throw new IllegalArgumentException("sequence of " + t + " tokens is longer than block_size " + c.blockSize());
        }
        int n = bs * t;
        int e = c.nEmbd();
        Forward f = new Forward();
        f.batch = bs;
        f.time = t;
        f.inputs = b.inputs();
        INDArray x = kernels.gatherRows(p.get("wte.weight"), b.inputs());
        INDArray pos = p.get("wpe.weight").get(NDArrayIndex.interval(0, t), NDArrayIndex.all()).reshape(1, (long) t * e);
        kernels.addBias(x.reshape('c', bs, (long) t * e), pos);
        f.embedDropout = dropout(x, rng);
        for (int l = 0; l < c.nLayer(); l++) {
            Block blk = new Block();
            blk.ln1 = layerNorm(x, p.layer(l, "ln_1.weight"), p.layer(l, "ln_1.bias"));
            INDArray qkv = linear(blk.ln1.y, p.layer(l, "attn.c_attn.weight"), p.layer(l, "attn.c_attn.bias"));
            blk.attnOut = Nd4j.createUninitialized(DataType.FLOAT, n, e);
            blk.attn = attention(qkv, blk.attnOut, bs, t, rng);
            blk.attnDropout = dropoutMask(x.shape(), rng);
            kernels.linearResidual(blk.attnOut, p.layer(l, "attn.c_proj.weight"), p.layer(l, "attn.c_proj.bias"),
                    blk.attnDropout, Nd4j.createUninitialized(DataType.FLOAT, n, e), x);
            blk.ln2 = layerNorm(x, p.layer(l, "ln_2.weight"), p.layer(l, "ln_2.bias"));
            blk.fc = Nd4j.createUninitialized(DataType.FLOAT, n, 4L * e);
            blk.gelu = Nd4j.createUninitialized(DataType.FLOAT, n, 4L * e);
            blk.geluTanh = kernels.linearGelu(blk.ln2.y, p.layer(l, "mlp.c_fc.weight"), p.layer(l, "mlp.c_fc.bias"),
                    blk.fc, blk.gelu);
            blk.mlpDropout = dropoutMask(x.shape(), rng);
            kernels.linearResidual(blk.gelu, p.layer(l, "mlp.c_proj.weight"), p.layer(l, "mlp.c_proj.bias"),
                    blk.mlpDropout, Nd4j.createUninitialized(DataType.FLOAT, n, e), x);
            f.blocks.add(blk);
        }
        f.lnF = layerNorm(x, p.get("ln_f.weight"), p.get("ln_f.bias"));
        f.logits = Nd4j.createUninitialized(DataType.FLOAT, n, c.vocabSize());
        mmul(f.lnF.y, p.get("wte.weight"), f.logits, false, true, 0.0);
        return f;
    }

    private Attention attention(INDArray qkv, INDArray y, int bs, int t, Random rng) {
        Attention a = new Attention();
        a.qkv = qkv;
        a.probs = Nd4j.createUninitialized(DataType.FLOAT, bs, c.nHead(), t, t);
        a.dropout = dropoutMask(a.probs.shape(), rng);
        kernels.attention(qkv, a.dropout, a.probs, y, bs, t, c.nHead());
        return a;
    }

    private Norm layerNorm(INDArray x, INDArray gain, INDArray bias) {
        Norm ln = new Norm();
        ln.y = Nd4j.createUninitialized(DataType.FLOAT, x.shape());
        ln.xhat = Nd4j.createUninitialized(DataType.FLOAT, x.shape());
        ln.rstd = Nd4j.createUninitialized(DataType.FLOAT, x.rows());
        kernels.layerNorm(x, gain, bias, ln.y, ln.xhat, ln.rstd);
        return ln;
    }

    private INDArray linear(INDArray x, INDArray w, INDArray b) {
        INDArray y = Nd4j.createUninitialized(DataType.FLOAT, x.rows(), w.columns());
        kernels.linear(x, w, b, y);
        return y;
    }

    /** Multiplies {@code x} in place by a fresh inverted-dropout mask and returns the mask (null when off). */
    private INDArray dropout(INDArray x, Random rng) {
        INDArray mask = dropoutMask(x.shape(), rng);
        if (mask != null) {
            x.muli(mask);
        }
        return mask;
    }

    /** A fresh inverted-dropout mask: 0 or 1 / keep (null when dropout is off). */
    private INDArray dropoutMask(long[] shape, Random rng) {
        if (rng == null || c.dropout() <= 0) {
            return null;
        }
        double keep = 1.0 - c.dropout();
        INDArray mask = Nd4j.createUninitialized(DataType.FLOAT, shape);
        Nd4j.getExecutioner().exec(new BernoulliDistribution(mask, keep), rng);
        return mask.divi(keep);
    }

    // ---- backward ---------------------------------------------------------------------------------

    private void backward(Forward f, INDArray dlogits, GptParameters g) {
        int bs = f.batch;
        int t = f.time;
        int e = c.nEmbd();
        INDArray wte = p.get("wte.weight");
        mmul(dlogits, f.lnF.y, g.get("wte.weight"), true, false, 1.0);
        INDArray dx = Nd4j.createUninitialized(DataType.FLOAT, (long) bs * t, e);
        mmul(dlogits, wte, dx, false, false, 0.0);
        INDArray dlnF = dx;
        dx = Nd4j.createUninitialized(DataType.FLOAT, (long) bs * t, e);
        layerNormBackward(dlnF, f.lnF, p.get("ln_f.weight"), g.get("ln_f.weight"), g.get("ln_f.bias"), dx, false);
        for (int l = c.nLayer() - 1; l >= 0; l--) {
            Block blk = f.blocks.get(l);
            // MLP: x3 = x2 + dropout(c_proj(gelu(c_fc(ln_2(x2)))))
            INDArray dmlp = masked(dx, blk.mlpDropout);
            INDArray dgelu = linearBackward(dmlp, blk.gelu, p.layer(l, "mlp.c_proj.weight"),
                    g.layer(l, "mlp.c_proj.weight"), g.layer(l, "mlp.c_proj.bias"));
            INDArray dfc = kernels.geluBackward(dgelu, blk.fc, blk.geluTanh);
            INDArray dln2 = linearBackward(dfc, blk.ln2.y, p.layer(l, "mlp.c_fc.weight"),
                    g.layer(l, "mlp.c_fc.weight"), g.layer(l, "mlp.c_fc.bias"));
            layerNormBackward(dln2, blk.ln2, p.layer(l, "ln_2.weight"), g.layer(l, "ln_2.weight"),
                    g.layer(l, "ln_2.bias"), dx, true);
            // attention: x2 = x + dropout(c_proj(attn(c_attn(ln_1(x)))))
            INDArray dproj = masked(dx, blk.attnDropout);
            INDArray dattn = linearBackward(dproj, blk.attnOut, p.layer(l, "attn.c_proj.weight"),
                    g.layer(l, "attn.c_proj.weight"), g.layer(l, "attn.c_proj.bias"));
            INDArray dqkv = Nd4j.createUninitialized(DataType.FLOAT, (long) bs * t, 3L * e);
            kernels.attentionBackward(dattn, blk.attn.qkv, blk.attn.dropout, blk.attn.probs, dqkv, bs, t, c.nHead());
            INDArray dln1 = linearBackward(dqkv, blk.ln1.y, p.layer(l, "attn.c_attn.weight"),
                    g.layer(l, "attn.c_attn.weight"), g.layer(l, "attn.c_attn.bias"));
            layerNormBackward(dln1, blk.ln1, p.layer(l, "ln_1.weight"), g.layer(l, "ln_1.weight"),
                    g.layer(l, "ln_1.bias"), dx, true);
        }
        INDArray demb = masked(dx, f.embedDropout);
        INDArray dwpe = g.get("wpe.weight").get(NDArrayIndex.interval(0, t), NDArrayIndex.all());
        kernels.addColumnSums(demb.reshape('c', bs, (long) t * e), dwpe);
        kernels.scatterAddRows(g.get("wte.weight"), f.inputs, demb);
    }

    private static INDArray masked(INDArray d, INDArray mask) {
        return mask == null ? d : d.mul(mask);
    }

    /** Backward of {@code y = x W + b}: accumulates dW and db, returns dx. */
    private INDArray linearBackward(INDArray dy, INDArray x, INDArray w, INDArray dw, INDArray db) {
        mmul(x, dy, dw, true, false, 1.0);
        kernels.addColumnSums(dy, db);
        INDArray dx = Nd4j.createUninitialized(DataType.FLOAT, dy.rows(), w.rows());
        mmul(dy, w, dx, false, true, 0.0);
        return dx;
    }

    private void layerNormBackward(INDArray dy, Norm ln, INDArray gain, INDArray dgain, INDArray dbias, INDArray dx,
                                   boolean accumulate) {
        kernels.layerNormBackward(dy, ln.xhat, ln.rstd, gain, dgain, dbias, dx, accumulate);
    }

    // ---- products ---------------------------------------------------------------------------------

    private void mmul(INDArray a, INDArray b, INDArray out, boolean transA, boolean transB, double beta) {
        kernels.gemm(a, b, out, transA, transB, beta);
    }

}
