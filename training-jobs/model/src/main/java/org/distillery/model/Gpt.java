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
 * A decoder-only transformer, GPT-2 or the Llama family ({@link GptConfig#llama()}), with its forward and
 * backward pass written out on ND4J arrays, as llm.c does in C: every matrix product is one BLAS call on a
 * whole batch, activations are kept only as long as the backward pass needs them, and nothing is rebuilt per
 * step. SameDiff builds the same networks as graphs ({@code GptGraph}, {@code LlamaGraph}); tests check this
 * pass's gradients against SameDiff's autodiff.
 *
 * <p>A Llama block is pre-RMSNorm attention with rotary positions and grouped-query heads, then a
 * pre-RMSNorm SiLU-gated MLP. Its key/value heads are repeated to the query heads before the same fused
 * attention kernels GPT-2 uses, and their gradients summed back after.
 *
 * <p>Shapes: B sequences of T tokens, N = B*T rows, C = n_embd, H heads of size D = C/H, K key/value heads,
 * I the Llama MLP's width, V = vocab.
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

    /** With its matrix products in {@code products} where the engine has them ({@link #products()} says). */
    public Gpt(GptParameters parameters, MatmulPrecision products) {
        this(parameters, Kernels.forBackend().withProducts(products));
    }

    Gpt(GptParameters parameters, Kernels kernels) {
        this.p = parameters;
        this.c = parameters.config();
        this.kernels = kernels;
        if (c.llama() != null) {
            try (MemoryWorkspace none = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
                this.rotary = RotaryTables.of(c.blockSize(), c.headSize(), c.llama().ropeTheta());
            }
        } else {
            this.rotary = null;
        }
    }

    /** RoPE's cosines and sines for every position (Llama; null for GPT-2). */
    private final RotaryTables rotary;

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

    /** The precision of this model's matrix products. */
    public MatmulPrecision products() {
        return kernels.products();
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
            return forward(new Batch(tokens, null, batch, time), null, Head.ALL, new int[0]).logits.detach();
        }
    }

    /**
     * Logits of every position into {@code out} ({@code [B*T, V]}, float, outside any workspace): a
     * teacher scoring batch after batch reuses one array, where {@link #logits(int[], int, int)} makes
     * a new one each time (a fresh off-heap allocation, as slow as the forward pass for small models).
     */
    public void logits(int[] tokens, int batch, int time, INDArray out) {
        try (MemoryWorkspace ws = Nd4j.getWorkspaceManager().getAndActivateWorkspace(STEP, workspace)) {
            out.assign(forward(new Batch(tokens, null, batch, time), null, Head.ALL, new int[0]).logits);
        }
    }

    /** Logits {@code [V]} of the last position of one sequence. */
    public INDArray lastLogits(int[] tokens) {
        try (MemoryWorkspace ws = Nd4j.getWorkspaceManager().getAndActivateWorkspace(STEP, workspace)) {
            INDArray all = forward(new Batch(tokens, null, 1, tokens.length), null, Head.ALL, new int[0]).logits;
            return all.getRow(tokens.length - 1).detach();
        }
    }

    /**
     * Logits of the last position of each of B sequences of T tokens into {@code out} ({@code [B, V]},
     * outside any workspace): sampling needs no other row, and the LM head over every position is most of
     * a small model's forward pass.
     */
    public void lastLogits(int[] tokens, int batch, int time, INDArray out) {
        try (MemoryWorkspace ws = Nd4j.getWorkspaceManager().getAndActivateWorkspace(STEP, workspace)) {
            out.assign(forward(new Batch(tokens, null, batch, time), null, Head.LAST, new int[0]).logits);
        }
    }

    /**
     * The residual stream after the blocks listed in {@code layers} (0: the embeddings, l: after block l,
     * before {@code ln_f}), each {@code [B*T, C]} into {@code hidden}, and, when {@code logits} is not
     * null, the logits as {@link #logits(int[], int, int, INDArray)} does. Without logits the pass
     * stops after the deepest layer asked for.
     */
    public void hiddenStates(int[] tokens, int batch, int time, int[] layers, INDArray[] hidden, INDArray logits) {
        try (MemoryWorkspace ws = Nd4j.getWorkspaceManager().getAndActivateWorkspace(STEP, workspace)) {
            Forward f = forward(new Batch(tokens, null, batch, time), null, logits == null ? Head.NONE : Head.ALL, layers);
            for (int i = 0; i < layers.length; i++) {
                hidden[i].assign(f.hidden[i]);
            }
            if (logits != null) {
                logits.assign(f.logits);
            }
        }
    }

    /**
     * A decoder over {@code batch} sequences of up to {@code length} positions (at most block_size) that
     * keeps every layer's keys and values: after {@link Decoder#prefill}, each new token costs one
     * position's pass through the blocks, where {@link #lastLogits(int[], int, int, INDArray)} runs the
     * whole prefix again.
     */
    public Decoder decoder(int batch, int length) {
        if (batch < 1 || length < 1 || length > c.blockSize()) {
            throw new IllegalArgumentException("a decoder of " + batch + " sequences of " + length
                    + " positions: both must be at least 1, and the length at most block_size " + c.blockSize());
        }
        return new Decoder(batch, length);
    }

    /**
     * Decoding with a KV cache (see {@link #decoder}). The sequences advance together, one token each per
     * {@link #next}; the logits are those of the full pass, up to the order of the sums in attention. The
     * cache lives outside any workspace, {@code 2 * n_layer * batch * length * n_embd} floats (a Llama model's
     * key/value heads are kept repeated to the query heads, as its attention reads them).
     */
    public final class Decoder {
        private final int batch;
        private final INDArray[] keys;
        private final INDArray[] values;
        private int length;

        private Decoder(int batch, int capacity) {
            this.batch = batch;
            keys = new INDArray[c.nLayer()];
            values = new INDArray[c.nLayer()];
            int d = c.nEmbd() / c.nHead();
            for (int l = 0; l < c.nLayer(); l++) {
                keys[l] = Nd4j.createUninitializedDetached(DataType.FLOAT, batch, c.nHead(), capacity, d);
                values[l] = Nd4j.createUninitializedDetached(DataType.FLOAT, batch, c.nHead(), capacity, d);
            }
        }

        /** Positions seen so far (the next token's position). */
        public int length() {
            return length;
        }

        /** Positions the cache holds; {@link #next} past them is an error (prefill again, a sliding window). */
        public int capacity() {
            return (int) keys[0].size(2);
        }

        /**
         * Starts over from B prompts of T tokens ({@code [B*T]}, row by row) and writes the logits of
         * each one's last position into {@code out [B, V]}.
         */
        public void prefill(int[] tokens, int time, INDArray out) {
            check(tokens, time, 0);
            step(tokens, time, 0, out);
        }

        /** Feeds one more token per sequence ({@code [B]}) and writes its position's logits into {@code out [B, V]}. */
        public void next(int[] tokens, INDArray out) {
            if (length == 0) {
                throw new IllegalStateException("prefill the decoder with the prompts before feeding tokens");
            }
            check(tokens, 1, length);
            step(tokens, 1, length, out);
        }

        private void check(int[] tokens, int time, int from) {
            if (time < 1 || tokens.length != batch * time) {
                throw new IllegalArgumentException(batch + " sequences of " + time + " tokens need " + batch * time
                        + " tokens, not " + tokens.length);
            }
            if (from + time > capacity()) {
                throw new IllegalArgumentException("position " + (from + time - 1) + " is past the decoder's "
                        + capacity() + " positions");
            }
        }

        private void step(int[] tokens, int time, int from, INDArray out) {
            try (MemoryWorkspace ws = Nd4j.getWorkspaceManager().getAndActivateWorkspace(STEP, workspace)) {
                long n = (long) batch * time;
                INDArray x = embed(tokens, batch, from, time);
                for (int l = 0; l < c.nLayer(); l++) {
                    if (c.llama() != null) {
                        llamaDecodeBlock(l, x, time, from);
                        continue;
                    }
                    Norm ln1 = layerNorm(x, p.layer(l, "ln_1.weight"), p.layer(l, "ln_1.bias"));
                    INDArray qkv = linear(ln1.y, p.layer(l, "attn.c_attn.weight"), p.layer(l, "attn.c_attn.bias"));
                    kernels.cacheKeysValues(qkv, keys[l], values[l], from, time);
                    INDArray y = Nd4j.createUninitialized(DataType.FLOAT, n, c.nEmbd());
                    if (from == 0) { // the prompts: causal attention among themselves, as in the full pass
                        kernels.attention(qkv, null, Nd4j.createUninitialized(DataType.FLOAT, batch, c.nHead(), time, time),
                                y, batch, time, c.nHead());
                    } else {
                        kernels.cachedAttention(qkv, keys[l], values[l], from + 1, y);
                    }
                    kernels.linearResidual(y, p.layer(l, "attn.c_proj.weight"), p.layer(l, "attn.c_proj.bias"), null,
                            Nd4j.createUninitialized(DataType.FLOAT, n, c.nEmbd()), x);
                    mlp(new Block(), l, x, null);
                }
                INDArray normed = finalNorm(x).y;
                out.assign(head(time == 1 ? normed : lastRows(normed, batch, time)));
            }
            length = from + time;
        }

        /**
         * One Llama block on one step's rows: keys are cached after RoPE at their own positions, and repeated
         * to the query heads, so the cache and the attention kernels are those of multi-head attention.
         */
        private void llamaDecodeBlock(int l, INDArray x, int time, int from) {
            long n = (long) batch * time;
            Norm ln1 = rmsNorm(x, p.layer(l, "input_layernorm.weight"));
            INDArray qkv = linear(ln1.y, p.layer(l, "self_attn.qkv_proj.weight"), bias(l, "self_attn.qkv_proj.bias"));
            kernels.rope(qkv, time, from, c.nHead() + c.kvHeads(), c.headSize(), rotary.cos(), rotary.sin(), false);
            INDArray full = repeatKv(qkv);
            kernels.cacheKeysValues(full, keys[l], values[l], from, time);
            INDArray y = Nd4j.createUninitialized(DataType.FLOAT, n, c.nEmbd());
            if (from == 0) {
                kernels.attention(full, null, Nd4j.createUninitialized(DataType.FLOAT, batch, c.nHead(), time, time),
                        y, batch, time, c.nHead());
            } else {
                kernels.cachedAttention(full, keys[l], values[l], from + 1, y);
            }
            kernels.linearResidual(y, p.layer(l, "self_attn.o_proj.weight"), bias(l, "self_attn.o_proj.bias"), null,
                    Nd4j.createUninitialized(DataType.FLOAT, n, c.nEmbd()), x);
            llamaMlp(new Block(), l, x);
        }
    }

    /** Mean next-token cross-entropy (nats), no gradients and no dropout. */
    public double loss(Batch b) {
        try (MemoryWorkspace ws = Nd4j.getWorkspaceManager().getAndActivateWorkspace(STEP, workspace)) {
            Forward f = forward(b, null, Head.ALL, new int[0]);
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
        return lossAndGradient(b, grads, scale, dropoutSeed, loss, null);
    }

    /**
     * A loss on hidden states (see {@link #hiddenStates}): given the states of {@link #layers()}, returns
     * the loss and writes {@code scale} times its gradient with respect to each state into {@code grad}.
     */
    public interface HiddenLoss {
        int[] layers();

        double apply(INDArray[] hidden, INDArray[] grad, double scale);
    }

    /**
     * The logit loss plus a loss on hidden states (null: none): both gradients flow back through the
     * model in one backward pass, the hidden ones joining the residual stream where they were read.
     */
    public double lossAndGradient(Batch b, GptParameters grads, double scale, long dropoutSeed, LogitLoss loss,
                                  HiddenLoss hiddenLoss) {
        try (MemoryWorkspace ws = Nd4j.getWorkspaceManager().getAndActivateWorkspace(STEP, workspace)) {
            Random rng = c.dropout() > 0 ? Nd4j.getRandomFactory().getNewRandomInstance(dropoutSeed) : null;
            int[] layers = hiddenLoss == null ? new int[0] : hiddenLoss.layers();
            Forward f = forward(b, rng, Head.ALL, layers);
            INDArray dlogits = f.logits; // overwritten in place by the loss gradient
            double value = loss.apply(f.logits, b.targets(), dlogits, scale);
            INDArray[] dhidden = null;
            if (hiddenLoss != null) {
                dhidden = new INDArray[layers.length];
                for (int i = 0; i < layers.length; i++) {
                    dhidden[i] = Nd4j.createUninitialized(DataType.FLOAT, f.hidden[i].shape());
                }
                value += hiddenLoss.apply(f.hidden, dhidden, scale);
            }
            backward(f, dlogits, grads, layers, dhidden);
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
        /** Copies of the residual stream at the layers asked for, in their order. */
        INDArray[] hidden;
    }

    /** Which rows get logits: every position, the last of each sequence (sampling), or none (hidden states only). */
    private enum Head { ALL, LAST, NONE }

    private static final class Block {
        /** Llama: q, k (turned) and v after repeating the key/value heads, {@code [N, 3C]}, and the MLP's {@code [N, 2I]}, {@code [N, I]}. */
        INDArray qkvFull;
        INDArray gateUp;
        INDArray act;
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
        /** RMSNorm's input (its backward needs it; the residual stream changes in place). */
        INDArray x;
        INDArray xhat;
        INDArray rstd;
        INDArray y;
    }

    private static final class Attention {
        INDArray qkv;
        INDArray probs;
        INDArray dropout;
    }

    private Forward forward(Batch b, Random rng, Head head, int[] capture) {
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
        INDArray x = embed(b.inputs(), bs, 0, t);
        f.embedDropout = c.llama() == null ? dropout(x, rng) : null;
        f.hidden = new INDArray[capture.length];
        int deepest = 0;
        for (int layer : capture) {
            if (layer < 0 || layer > c.nLayer()) {
                throw new IllegalArgumentException("hidden layer " + layer + " is not in 0.." + c.nLayer());
            }
            deepest = Math.max(deepest, layer);
        }
        capture(f, capture, 0, x);
        int blocks = head == Head.NONE ? deepest : c.nLayer();
        for (int l = 0; l < blocks; l++) {
            if (c.llama() != null) {
                f.blocks.add(llamaBlock(l, x, bs, t, rng));
                capture(f, capture, l + 1, x);
                continue;
            }
            Block blk = new Block();
            blk.ln1 = layerNorm(x, p.layer(l, "ln_1.weight"), p.layer(l, "ln_1.bias"));
            INDArray qkv = linear(blk.ln1.y, p.layer(l, "attn.c_attn.weight"), p.layer(l, "attn.c_attn.bias"));
            blk.attnOut = Nd4j.createUninitialized(DataType.FLOAT, n, e);
            blk.attn = attention(qkv, blk.attnOut, bs, t, rng);
            blk.attnDropout = dropoutMask(x.shape(), rng);
            kernels.linearResidual(blk.attnOut, p.layer(l, "attn.c_proj.weight"), p.layer(l, "attn.c_proj.bias"),
                    blk.attnDropout, Nd4j.createUninitialized(DataType.FLOAT, n, e), x);
            mlp(blk, l, x, rng);
            f.blocks.add(blk);
            capture(f, capture, l + 1, x);
        }
        if (head == Head.NONE) {
            return f;
        }
        f.lnF = finalNorm(x);
        f.logits = head(head == Head.LAST ? lastRows(f.lnF.y, bs, t) : f.lnF.y);
        return f;
    }

    /**
     * Token plus position embeddings of B sequences of T tokens at positions {@code from..from+T-1}: {@code [B*T, C]}
     * (a Llama model's positions turn q and k in attention instead).
     */
    private INDArray embed(int[] tokens, int batch, int from, int time) {
        int e = c.nEmbd();
        INDArray x = kernels.gatherRows(p.embedding(), tokens);
        if (c.llama() != null) {
            return x;
        }
        INDArray pos = p.get("wpe.weight").get(NDArrayIndex.interval(from, from + time), NDArrayIndex.all())
                .reshape(1, (long) time * e);
        kernels.addBias(x.reshape('c', batch, (long) time * e), pos);
        return x;
    }

    /** Block l's MLP half on the residual stream x, in place: ln_2, c_fc, GELU, c_proj, dropout, residual. */
    private void mlp(Block blk, int l, INDArray x, Random rng) {
        long n = x.rows();
        int e = c.nEmbd();
        blk.ln2 = layerNorm(x, p.layer(l, "ln_2.weight"), p.layer(l, "ln_2.bias"));
        blk.fc = Nd4j.createUninitialized(DataType.FLOAT, n, 4L * e);
        blk.gelu = Nd4j.createUninitialized(DataType.FLOAT, n, 4L * e);
        blk.geluTanh = kernels.linearGelu(blk.ln2.y, p.layer(l, "mlp.c_fc.weight"), p.layer(l, "mlp.c_fc.bias"),
                blk.fc, blk.gelu);
        blk.mlpDropout = dropoutMask(x.shape(), rng);
        kernels.linearResidual(blk.gelu, p.layer(l, "mlp.c_proj.weight"), p.layer(l, "mlp.c_proj.bias"),
                blk.mlpDropout, Nd4j.createUninitialized(DataType.FLOAT, n, e), x);
    }

    /**
     * Llama block l on the residual stream x, in place: x += o_proj(attention(rope(qkv_proj(rms(x))))), then
     * x += down_proj(silu(gate) * up) of rms(x).
     */
    private Block llamaBlock(int l, INDArray x, int bs, int t, Random rng) {
        long n = x.rows();
        Block blk = new Block();
        blk.ln1 = rmsNorm(x, p.layer(l, "input_layernorm.weight"));
        INDArray qkv = linear(blk.ln1.y, p.layer(l, "self_attn.qkv_proj.weight"), bias(l, "self_attn.qkv_proj.bias"));
        kernels.rope(qkv, t, 0, c.nHead() + c.kvHeads(), c.headSize(), rotary.cos(), rotary.sin(), false);
        blk.qkvFull = repeatKv(qkv);
        blk.attnOut = Nd4j.createUninitialized(DataType.FLOAT, n, c.nEmbd());
        blk.attn = attention(blk.qkvFull, blk.attnOut, bs, t, rng);
        kernels.linearResidual(blk.attnOut, p.layer(l, "self_attn.o_proj.weight"), bias(l, "self_attn.o_proj.bias"),
                null, Nd4j.createUninitialized(DataType.FLOAT, n, c.nEmbd()), x);
        llamaMlp(blk, l, x);
        return blk;
    }

    private void llamaMlp(Block blk, int l, INDArray x) {
        long n = x.rows();
        int inter = c.llama().intermediateSize();
        blk.ln2 = rmsNorm(x, p.layer(l, "post_attention_layernorm.weight"));
        blk.gateUp = Nd4j.createUninitialized(DataType.FLOAT, n, 2L * inter);
        kernels.gemm(blk.ln2.y, p.layer(l, "mlp.gate_up_proj.weight"), blk.gateUp, false, false, 0.0);
        blk.act = Nd4j.createUninitialized(DataType.FLOAT, n, inter);
        kernels.swiglu(blk.gateUp, blk.act);
        kernels.linearResidual(blk.act, p.layer(l, "mlp.down_proj.weight"), null, null,
                Nd4j.createUninitialized(DataType.FLOAT, n, c.nEmbd()), x);
    }

    /** Block l's tensor {@code name} if the model has it (a Llama model's optional biases), else null. */
    private INDArray bias(int l, String name) {
        return p.hasLayer(l, name) ? p.layer(l, name) : null;
    }

    /** Fused {@code [N, (H + 2K) D]} q, k, v → {@code [N, 3C]} with the key/value heads repeated (itself when K = H). */
    private INDArray repeatKv(INDArray qkv) {
        if (c.kvHeads() == c.nHead()) {
            return qkv;
        }
        INDArray full = Nd4j.createUninitialized(DataType.FLOAT, qkv.rows(), 3L * c.nEmbd());
        kernels.repeatKv(qkv, full, c.nHead(), c.kvHeads(), c.headSize());
        return full;
    }

    /** ln_f (GPT-2) or norm (Llama) of the residual stream. */
    private Norm finalNorm(INDArray x) {
        return c.llama() == null ? layerNorm(x, p.get("ln_f.weight"), p.get("ln_f.bias")) : rmsNorm(x, p.get("norm.weight"));
    }

    private Norm rmsNorm(INDArray x, INDArray gain) {
        Norm n = new Norm();
        n.x = x.dup();
        n.y = Nd4j.createUninitialized(DataType.FLOAT, x.shape());
        n.rstd = Nd4j.createUninitialized(DataType.FLOAT, x.rows());
        kernels.rmsNorm(x, gain, c.llama().rmsNormEps(), n.y, n.rstd);
        return n;
    }

    /** The last of each sequence's T rows of {@code y [B*T, C]}. */
    private INDArray lastRows(INDArray y, int batch, int time) {
        int[] last = new int[batch];
        for (int i = 0; i < batch; i++) {
            last[i] = i * time + time - 1;
        }
        return kernels.gatherRows(y, last);
    }

    /** The LM head (GPT-2's is tied): logits {@code [rows, V]} of final-normed rows. */
    private INDArray head(INDArray rows) {
        INDArray logits = Nd4j.createUninitialized(DataType.FLOAT, rows.rows(), c.vocabSize());
        mmul(rows, p.head(), logits, false, true, 0.0);
        return logits;
    }

    /** Copies the residual stream {@code x} wherever {@code layer} is asked for (x changes in place later). */
    private static void capture(Forward f, int[] capture, int layer, INDArray x) {
        for (int i = 0; i < capture.length; i++) {
            if (capture[i] == layer) {
                f.hidden[i] = x.dup();
            }
        }
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

    /** {@code dhidden[i]}: the gradient with respect to hidden state {@code layers[i]}, added where it was read. */
    private void backward(Forward f, INDArray dlogits, GptParameters g, int[] layers, INDArray[] dhidden) {
        if (c.llama() != null) {
            llamaBackward(f, dlogits, g, layers, dhidden);
            return;
        }
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
            addHiddenGradient(dx, layers, dhidden, l + 1); // dx is now the gradient after block l + 1
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
        addHiddenGradient(dx, layers, dhidden, 0);
        INDArray demb = masked(dx, f.embedDropout);
        INDArray dwpe = g.get("wpe.weight").get(NDArrayIndex.interval(0, t), NDArrayIndex.all());
        kernels.addColumnSums(demb.reshape('c', bs, (long) t * e), dwpe);
        kernels.scatterAddRows(g.get("wte.weight"), f.inputs, demb);
    }

    private void llamaBackward(Forward f, INDArray dlogits, GptParameters g, int[] layers, INDArray[] dhidden) {
        int bs = f.batch;
        int t = f.time;
        long n = (long) bs * t;
        int e = c.nEmbd();
        mmul(dlogits, f.lnF.y, g.head(), true, false, 1.0);
        INDArray dnorm = Nd4j.createUninitialized(DataType.FLOAT, n, e);
        mmul(dlogits, p.head(), dnorm, false, false, 0.0);
        INDArray dx = Nd4j.createUninitialized(DataType.FLOAT, n, e);
        kernels.rmsNormBackward(dnorm, f.lnF.x, f.lnF.rstd, p.get("norm.weight"), g.get("norm.weight"), dx, false);
        int rotated = c.nHead() + c.kvHeads();
        for (int l = c.nLayer() - 1; l >= 0; l--) {
            addHiddenGradient(dx, layers, dhidden, l + 1);
            Block blk = f.blocks.get(l);
            // MLP: x3 = x2 + down(silu(gate) * up), [gate, up] = rms_2(x2) gate_up
            INDArray dact = linearBackward(dx, blk.act, p.layer(l, "mlp.down_proj.weight"),
                    g.layer(l, "mlp.down_proj.weight"), null);
            INDArray dgateUp = Nd4j.createUninitialized(DataType.FLOAT, blk.gateUp.shape());
            kernels.swigluBackward(dact, blk.gateUp, dgateUp);
            INDArray dln2 = linearBackward(dgateUp, blk.ln2.y, p.layer(l, "mlp.gate_up_proj.weight"),
                    g.layer(l, "mlp.gate_up_proj.weight"), null);
            kernels.rmsNormBackward(dln2, blk.ln2.x, blk.ln2.rstd, p.layer(l, "post_attention_layernorm.weight"),
                    g.layer(l, "post_attention_layernorm.weight"), dx, true);
            // attention: x2 = x + o_proj(attn(rope(qkv_proj(rms_1(x)))))
            INDArray dattn = linearBackward(dx, blk.attnOut, p.layer(l, "self_attn.o_proj.weight"),
                    g.layer(l, "self_attn.o_proj.weight"), gradBias(g, l, "self_attn.o_proj.bias"));
            INDArray dfull = Nd4j.createUninitialized(DataType.FLOAT, n, 3L * e);
            kernels.attentionBackward(dattn, blk.qkvFull, blk.attn.dropout, blk.attn.probs, dfull, bs, t, c.nHead());
            INDArray dqkv = dfull;
            if (c.kvHeads() != c.nHead()) {
                dqkv = Nd4j.createUninitialized(DataType.FLOAT, n, (long) (c.nHead() + 2 * c.kvHeads()) * c.headSize());
                kernels.repeatKvBackward(dfull, dqkv, c.nHead(), c.kvHeads(), c.headSize());
            }
            kernels.rope(dqkv, t, 0, rotated, c.headSize(), rotary.cos(), rotary.sin(), true);
            INDArray dln1 = linearBackward(dqkv, blk.ln1.y, p.layer(l, "self_attn.qkv_proj.weight"),
                    g.layer(l, "self_attn.qkv_proj.weight"), gradBias(g, l, "self_attn.qkv_proj.bias"));
            kernels.rmsNormBackward(dln1, blk.ln1.x, blk.ln1.rstd, p.layer(l, "input_layernorm.weight"),
                    g.layer(l, "input_layernorm.weight"), dx, true);
        }
        addHiddenGradient(dx, layers, dhidden, 0);
        kernels.scatterAddRows(g.embedding(), f.inputs, dx);
    }

    private static INDArray gradBias(GptParameters g, int l, String name) {
        return g.hasLayer(l, name) ? g.layer(l, name) : null;
    }

    private static void addHiddenGradient(INDArray dx, int[] layers, INDArray[] dhidden, int layer) {
        for (int i = 0; i < layers.length; i++) {
            if (layers[i] == layer) {
                dx.addi(dhidden[i]);
            }
        }
    }

    private static INDArray masked(INDArray d, INDArray mask) {
        return mask == null ? d : d.mul(mask);
    }

    /** Backward of {@code y = x W + b}: accumulates dW and db (null: no bias), returns dx. */
    private INDArray linearBackward(INDArray dy, INDArray x, INDArray w, INDArray dw, INDArray db) {
        mmul(x, dy, dw, true, false, 1.0);
        if (db != null) {
            kernels.addColumnSums(dy, db);
        }
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
