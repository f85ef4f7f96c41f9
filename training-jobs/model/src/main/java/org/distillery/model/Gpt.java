package org.distillery.model;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.nd4j.linalg.api.blas.params.MMulTranspose;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.reduce.Mmul;
import org.nd4j.linalg.api.ops.impl.scatter.ScatterAdd;
import org.nd4j.linalg.api.ops.impl.shape.OneHot;
import org.nd4j.linalg.api.ops.impl.transforms.custom.LogSoftMax;
import org.nd4j.linalg.api.ops.impl.transforms.custom.SoftMax;
import org.nd4j.linalg.api.ops.random.impl.BernoulliDistribution;
import org.nd4j.linalg.api.rng.Random;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.INDArrayIndex;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.ops.transforms.Transforms;

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
    private final Map<Integer, INDArray> causalMasks = new HashMap<>();

    public Gpt(GptParameters parameters) {
        this.p = parameters;
        this.c = parameters.config();
    }

    public GptConfig config() {
        return c;
    }

    public GptParameters parameters() {
        return p;
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
        return forward(new Batch(tokens, null, batch, time), null).logits;
    }

    /** Mean next-token cross-entropy (nats), no gradients and no dropout. */
    public double loss(Batch b) {
        Forward f = forward(b, null);
        return crossEntropy(f.logits, b.targets(), null, 0);
    }

    /**
     * Forward and backward pass: adds {@code scale} times the gradient of the mean cross-entropy to
     * {@code grads} (so micro-batches accumulate) and returns the mean cross-entropy.
     * {@code dropoutSeed} fixes the dropout masks, which makes a step reproducible.
     */
    public double lossAndGradient(Batch b, GptParameters grads, double scale, long dropoutSeed) {
        Random rng = c.dropout() > 0 ? Nd4j.getRandomFactory().getNewRandomInstance(dropoutSeed) : null;
        Forward f = forward(b, rng);
        INDArray dlogits = f.logits; // overwritten in place by the loss gradient
        double loss = crossEntropy(f.logits, b.targets(), dlogits, scale);
        backward(f, dlogits, grads);
        return loss;
    }

    // ---- forward ----------------------------------------------------------------------------------

    /** What the backward pass needs from the forward pass. */
    private static final class Forward {
        int batch;
        int time;
        INDArray tokens;
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
        INDArray q;
        INDArray k;
        INDArray v;
        INDArray probs;
        INDArray probsDropped;
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
        f.tokens = Nd4j.createFromArray(b.inputs());
        INDArray x = Nd4j.pullRows(p.get("wte.weight"), 1, b.inputs());
        INDArray pos = p.get("wpe.weight").get(NDArrayIndex.interval(0, t), NDArrayIndex.all()).reshape(1, (long) t * e);
        x = x.reshape('c', bs, (long) t * e).addiRowVector(pos).reshape('c', n, e);
        f.embedDropout = dropout(x, rng);
        for (int l = 0; l < c.nLayer(); l++) {
            Block blk = new Block();
            blk.ln1 = layerNorm(x, p.layer(l, "ln_1.weight"), p.layer(l, "ln_1.bias"));
            INDArray qkv = linear(blk.ln1.y, p.layer(l, "attn.c_attn.weight"), p.layer(l, "attn.c_attn.bias"));
            blk.attn = attention(qkv, bs, t, rng);
            blk.attnOut = heads(matmul(blk.attn.probsDropped, blk.attn.v, false, false), bs, t);
            INDArray proj = linear(blk.attnOut, p.layer(l, "attn.c_proj.weight"), p.layer(l, "attn.c_proj.bias"));
            blk.attnDropout = dropout(proj, rng);
            x = x.add(proj);
            blk.ln2 = layerNorm(x, p.layer(l, "ln_2.weight"), p.layer(l, "ln_2.bias"));
            blk.fc = linear(blk.ln2.y, p.layer(l, "mlp.c_fc.weight"), p.layer(l, "mlp.c_fc.bias"));
            blk.gelu = Nd4j.createUninitialized(DataType.FLOAT, blk.fc.shape());
            blk.geluTanh = Gelu.forward(blk.fc, blk.gelu);
            INDArray mlp = linear(blk.gelu, p.layer(l, "mlp.c_proj.weight"), p.layer(l, "mlp.c_proj.bias"));
            blk.mlpDropout = dropout(mlp, rng);
            x = x.add(mlp);
            f.blocks.add(blk);
        }
        f.lnF = layerNorm(x, p.get("ln_f.weight"), p.get("ln_f.bias"));
        f.logits = Nd4j.createUninitialized(DataType.FLOAT, n, c.vocabSize());
        mmul(f.lnF.y, p.get("wte.weight"), f.logits, false, true, 0.0);
        return f;
    }

    private Attention attention(INDArray qkv, int bs, int t, Random rng) {
        int h = c.nHead();
        int d = c.headSize();
        INDArray qkv5 = qkv.reshape('c', bs, t, 3, h, d);
        Attention a = new Attention();
        a.q = split(qkv5, 0);
        a.k = split(qkv5, 1);
        a.v = split(qkv5, 2);
        INDArray s = matmul(a.q, a.k, false, true);
        s.muli(1.0 / Math.sqrt(d));
        s.reshape('c', (long) bs * h, (long) t * t).addiRowVector(causalMask(t));
        INDArray rows = s.reshape('c', (long) bs * h * t, t);
        Nd4j.exec(new SoftMax(rows, rows, 1));
        a.probs = s;
        if (rng != null) {
            a.probsDropped = s.dup();
            a.dropout = dropout(a.probsDropped, rng);
        } else {
            a.probsDropped = s;
        }
        return a;
    }

    /** {@code [B,T,3,H,D]} → part {@code which} (q, k or v) as {@code [B,H,T,D]}. */
    private static INDArray split(INDArray qkv5, int which) {
        return qkv5.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.point(which), NDArrayIndex.all(),
                NDArrayIndex.all()).permute(0, 2, 1, 3).dup('c');
    }

    /** {@code [B,H,T,D]} → {@code [B*T, C]}. */
    private INDArray heads(INDArray y, int bs, int t) {
        return y.permute(0, 2, 1, 3).dup('c').reshape('c', (long) bs * t, c.nEmbd());
    }

    /** 0 on and below the diagonal, -inf above it, flattened to a row of T*T. */
    private INDArray causalMask(int t) {
        return causalMasks.computeIfAbsent(t, k -> {
            float[] m = new float[t * t];
            for (int i = 0; i < t; i++) {
                for (int j = i + 1; j < t; j++) {
                    m[i * t + j] = Float.NEGATIVE_INFINITY;
                }
            }
            return Nd4j.createFromArray(m).reshape(1, (long) t * t);
        });
    }

    private static Norm layerNorm(INDArray x, INDArray gain, INDArray bias) {
        Norm ln = new Norm();
        INDArray mean = x.mean(true, 1);
        INDArray xc = x.subColumnVector(mean);
        INDArray var = xc.mul(xc).mean(true, 1);
        ln.rstd = Transforms.pow(var.addi(GptConfig.LN_EPS), -0.5, false);
        ln.xhat = xc.muliColumnVector(ln.rstd);
        ln.y = ln.xhat.mulRowVector(gain).addiRowVector(bias);
        return ln;
    }

    private static INDArray linear(INDArray x, INDArray w, INDArray b) {
        INDArray y = Nd4j.createUninitialized(DataType.FLOAT, x.rows(), w.columns());
        mmul(x, w, y, false, false, 0.0);
        return y.addiRowVector(b);
    }

    /** Multiplies {@code x} in place by a fresh inverted-dropout mask and returns the mask (null when off). */
    private INDArray dropout(INDArray x, Random rng) {
        if (rng == null || c.dropout() <= 0) {
            return null;
        }
        double keep = 1.0 - c.dropout();
        INDArray mask = Nd4j.createUninitialized(DataType.FLOAT, x.shape());
        Nd4j.getExecutioner().exec(new BernoulliDistribution(mask, keep), rng);
        mask.divi(keep);
        x.muli(mask);
        return mask;
    }

    // ---- loss -------------------------------------------------------------------------------------

    /**
     * Mean cross-entropy of {@code targets} under {@code logits}. With {@code grad} non-null, writes
     * {@code scale * dLoss/dLogits} into it ({@code grad} may be {@code logits} itself).
     */
    static double crossEntropy(INDArray logits, int[] targets, INDArray grad, double scale) {
        long n = logits.rows();
        INDArray logp = Nd4j.createUninitialized(DataType.FLOAT, logits.shape());
        Nd4j.exec(new LogSoftMax(logits, logp));
        INDArray onehot = Nd4j.createUninitialized(DataType.FLOAT, logits.shape());
        Nd4j.exec(new OneHot(Nd4j.createFromArray(targets), onehot, (int) logits.columns()));
        double loss = -onehot.mul(logp).sumNumber().doubleValue() / n;
        if (grad != null) {
            Transforms.exp(logp, false);
            grad.assign(logp.subi(onehot).muli(scale / n));
        }
        return loss;
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
        dx = layerNormBackward(dx, f.lnF, p.get("ln_f.weight"), g.get("ln_f.weight"), g.get("ln_f.bias"));
        for (int l = c.nLayer() - 1; l >= 0; l--) {
            Block blk = f.blocks.get(l);
            // MLP: x3 = x2 + dropout(c_proj(gelu(c_fc(ln_2(x2)))))
            INDArray dmlp = masked(dx, blk.mlpDropout);
            INDArray dgelu = linearBackward(dmlp, blk.gelu, p.layer(l, "mlp.c_proj.weight"),
                    g.layer(l, "mlp.c_proj.weight"), g.layer(l, "mlp.c_proj.bias"));
            INDArray dfc = Gelu.backward(dgelu, blk.fc, blk.geluTanh);
            INDArray dln2 = linearBackward(dfc, blk.ln2.y, p.layer(l, "mlp.c_fc.weight"),
                    g.layer(l, "mlp.c_fc.weight"), g.layer(l, "mlp.c_fc.bias"));
            dx = dx.add(layerNormBackward(dln2, blk.ln2, p.layer(l, "ln_2.weight"), g.layer(l, "ln_2.weight"),
                    g.layer(l, "ln_2.bias")));
            // attention: x2 = x + dropout(c_proj(attn(c_attn(ln_1(x)))))
            INDArray dproj = masked(dx, blk.attnDropout);
            INDArray dattn = linearBackward(dproj, blk.attnOut, p.layer(l, "attn.c_proj.weight"),
                    g.layer(l, "attn.c_proj.weight"), g.layer(l, "attn.c_proj.bias"));
            INDArray dqkv = attentionBackward(dattn, blk.attn, bs, t);
            INDArray dln1 = linearBackward(dqkv, blk.ln1.y, p.layer(l, "attn.c_attn.weight"),
                    g.layer(l, "attn.c_attn.weight"), g.layer(l, "attn.c_attn.bias"));
            dx = dx.add(layerNormBackward(dln1, blk.ln1, p.layer(l, "ln_1.weight"), g.layer(l, "ln_1.weight"),
                    g.layer(l, "ln_1.bias")));
        }
        INDArray demb = masked(dx, f.embedDropout);
        INDArray dwpe = g.get("wpe.weight").get(NDArrayIndex.interval(0, t), NDArrayIndex.all());
        dwpe.addi(demb.reshape('c', bs, (long) t * e).sum(0).reshape('c', t, e));
        // scatter_add writes a new array in M2.1 (not the ref in place), so copy its result back.
        INDArray dwte = g.get("wte.weight");
        INDArray[] summed = Nd4j.exec(new ScatterAdd(dwte, f.tokens, demb));
        if (summed[0] != dwte) {
            dwte.assign(summed[0]);
        }
    }

    private static INDArray masked(INDArray d, INDArray mask) {
        return mask == null ? d : d.mul(mask);
    }

    /** Backward of {@code y = x W + b}: accumulates dW and db, returns dx. */
    private static INDArray linearBackward(INDArray dy, INDArray x, INDArray w, INDArray dw, INDArray db) {
        mmul(x, dy, dw, true, false, 1.0);
        db.addi(dy.sum(0));
        INDArray dx = Nd4j.createUninitialized(DataType.FLOAT, dy.rows(), w.rows());
        mmul(dy, w, dx, false, true, 0.0);
        return dx;
    }

    private static INDArray layerNormBackward(INDArray dy, Norm ln, INDArray gain, INDArray dgain, INDArray dbias) {
        dgain.addi(dy.mul(ln.xhat).sum(0));
        dbias.addi(dy.sum(0));
        INDArray dxhat = dy.mulRowVector(gain);
        INDArray m1 = dxhat.mean(true, 1);
        INDArray m2 = dxhat.mul(ln.xhat).mean(true, 1);
        return dxhat.subiColumnVector(m1).subi(ln.xhat.mulColumnVector(m2)).muliColumnVector(ln.rstd);
    }

    private INDArray attentionBackward(INDArray dy, Attention a, int bs, int t) {
        int h = c.nHead();
        int d = c.headSize();
        INDArray dyh = dy.reshape('c', bs, t, h, d).permute(0, 2, 1, 3).dup('c');
        INDArray dprobs = matmul(dyh, a.v, false, true);
        INDArray dv = matmul(a.probsDropped, dyh, true, false);
        if (a.dropout != null) {
            dprobs.muli(a.dropout);
        }
        // softmax backward, row by row: ds = p * (dp - sum(dp * p))
        INDArray p2 = a.probs.reshape('c', (long) bs * h * t, t);
        INDArray dp2 = dprobs.reshape('c', (long) bs * h * t, t);
        INDArray dot = dp2.mul(p2).sum(true, 1);
        INDArray ds = dp2.subiColumnVector(dot).muli(p2).muli(1.0 / Math.sqrt(d)).reshape('c', bs, h, t, t);
        INDArray dq = matmul(ds, a.k, false, false);
        INDArray dk = matmul(ds, a.q, true, false);
        INDArray dqkv = Nd4j.createUninitialized(DataType.FLOAT, (long) bs * t, 3L * c.nEmbd());
        INDArray d5 = dqkv.reshape('c', bs, t, 3, h, d);
        INDArray[] parts = {dq, dk, dv};
        for (int i = 0; i < 3; i++) {
            INDArrayIndex[] at = {NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.point(i), NDArrayIndex.all(),
                    NDArrayIndex.all()};
            d5.get(at).assign(parts[i].permute(0, 2, 1, 3));
        }
        return dqkv;
    }

    // ---- products ---------------------------------------------------------------------------------

    /** {@code out = op(a) op(b) + beta * out} for matrices, as one BLAS gemm. */
    static void mmul(INDArray a, INDArray b, INDArray out, boolean transA, boolean transB, double beta) {
        MMulTranspose mt = MMulTranspose.builder().transposeA(transA).transposeB(transB).build();
        Nd4j.exec(new Mmul(a, b, out, 1.0, beta, mt));
    }

    /** Batched product over the leading dimensions of rank-4 arrays. */
    private static INDArray matmul(INDArray a, INDArray b, boolean transA, boolean transB) {
        long[] as = a.shape();
        long[] bsh = b.shape();
        long rows = transA ? as[3] : as[2];
        long cols = transB ? bsh[2] : bsh[3];
        INDArray out = Nd4j.createUninitialized(DataType.FLOAT, as[0], as[1], rows, cols);
        return Nd4j.matmul(a, b, out, transA, transB, false);
    }
}
