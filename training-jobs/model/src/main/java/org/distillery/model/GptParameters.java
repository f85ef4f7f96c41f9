package org.distillery.model;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.distillery.core.io.Sha256;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * Every tensor of a model as a view into one flat float32 buffer. One buffer makes the optimizer, gradient
 * clipping and checkpointing a handful of whole-buffer operations instead of one per tensor. Linear weights
 * are {@code [in, out]}, so {@code y = x W + b}, for both architectures:
 * <ul>
 *   <li>GPT-2: Hugging Face's {@code GPT2LMHeadModel} names and (Conv1D) layouts without the {@code transformer.}
 *       prefix; the LM head is {@code wte} itself (tied);</li>
 *   <li>Llama: {@code LlamaForCausalLM}'s names without the {@code model.} prefix, except that q, k and v are one
 *       {@code self_attn.qkv_proj} (q's heads, then k's, then v's) and gate and up one {@code mlp.gate_up_proj}
 *       (gate, then up), so that each is one matrix product; {@code lm_head.weight} is {@code [V, C]} like the
 *       embedding, and absent when tied.</li>
 * </ul>
 */
public final class GptParameters {
    private final GptConfig config;
    private final INDArray flat;
    private final Map<String, INDArray> tensors = new LinkedHashMap<>();
    private final Map<String, long[]> shapes = new LinkedHashMap<>();
    private final Map<String, Long> offsets = new LinkedHashMap<>();

    private GptParameters(GptConfig config, INDArray flat) {
        this.config = config;
        this.flat = flat;
        long off = 0;
        for (Map.Entry<String, long[]> e : layout(config).entrySet()) {
            long n = 1;
            for (long d : e.getValue()) {
                n *= d;
            }
            INDArray view = flat.get(NDArrayIndex.interval(off, off + n)).reshape('c', e.getValue());
            tensors.put(e.getKey(), view);
            shapes.put(e.getKey(), e.getValue());
            offsets.put(e.getKey(), off);
            off += n;
        }
        if (off != flat.length()) {
            throw new IllegalStateException("layout holds " + off + " values, buffer " + flat.length());
        }
    }

    /** All zeros: the shape of gradients and optimizer moments. */
    public static GptParameters zeros(GptConfig config) {
        return new GptParameters(config, Nd4j.zeros(DataType.FLOAT, config.parameterCount()));
    }

    /** Wraps an existing flat buffer (a checkpoint's), which must have {@link GptConfig#parameterCount()} values. */
    public static GptParameters wrap(GptConfig config, INDArray flat) {
        if (flat.length() != config.parameterCount()) {
            throw new IllegalArgumentException("expected " + config.parameterCount() + " parameters, found " + flat.length());
        }
        return new GptParameters(config, flat.reshape(flat.length()));
    }

    /**
     * GPT-2's initialisation: normal(0, 0.02) weights and embeddings, zero biases, unit LayerNorm
     * gains, and the residual projections scaled by 1/sqrt(2 n_layer). A Llama model gets what
     * {@code LlamaPreTrainedModel} gives it: normal(0, 0.02) everywhere, zero biases, unit RMSNorm gains.
     */
    public static GptParameters initialize(GptConfig config, long seed) {
        GptParameters p = zeros(config);
        org.nd4j.linalg.api.rng.Random rng = Nd4j.getRandomFactory().getNewRandomInstance(seed);
        for (Map.Entry<String, INDArray> e : p.tensors.entrySet()) {
            String name = e.getKey();
            INDArray t = e.getValue();
            if (name.endsWith(".bias")) {
                continue;
            }
            if (name.startsWith("ln_f") || name.contains(".ln_") || name.endsWith("norm.weight")) {
                t.assign(1.0);
                continue;
            }
            double std = 0.02;
            if (config.llama() == null && (name.endsWith("attn.c_proj.weight") || name.endsWith("mlp.c_proj.weight"))) {
                std = 0.02 / Math.sqrt(2.0 * config.nLayer());
            }
            t.assign(Nd4j.randn(0.0, std, t.shape(), rng).castTo(DataType.FLOAT));
        }
        return p;
    }

    /** Tensor names and shapes in buffer order. */
    public static Map<String, long[]> layout(GptConfig c) {
        if (c.llama() != null) {
            return llamaLayout(c);
        }
        long e = c.nEmbd();
        Map<String, long[]> m = new LinkedHashMap<>();
        m.put("wte.weight", new long[] {c.vocabSize(), e});
        m.put("wpe.weight", new long[] {c.blockSize(), e});
        for (int i = 0; i < c.nLayer(); i++) {
            String h = "h." + i + ".";
            m.put(h + "ln_1.weight", new long[] {e});
            m.put(h + "ln_1.bias", new long[] {e});
            m.put(h + "attn.c_attn.weight", new long[] {e, 3 * e});
            m.put(h + "attn.c_attn.bias", new long[] {3 * e});
            m.put(h + "attn.c_proj.weight", new long[] {e, e});
            m.put(h + "attn.c_proj.bias", new long[] {e});
            m.put(h + "ln_2.weight", new long[] {e});
            m.put(h + "ln_2.bias", new long[] {e});
            m.put(h + "mlp.c_fc.weight", new long[] {e, 4 * e});
            m.put(h + "mlp.c_fc.bias", new long[] {4 * e});
            m.put(h + "mlp.c_proj.weight", new long[] {4 * e, e});
            m.put(h + "mlp.c_proj.bias", new long[] {e});
        }
        m.put("ln_f.weight", new long[] {e});
        m.put("ln_f.bias", new long[] {e});
        return m;
    }

    private static Map<String, long[]> llamaLayout(GptConfig c) {
        GptConfig.Llama ll = c.llama();
        long e = c.nEmbd();
        long qkv = e + 2L * c.kvHeads() * c.headSize();
        long inter = ll.intermediateSize();
        Map<String, long[]> m = new LinkedHashMap<>();
        m.put("embed_tokens.weight", new long[] {c.vocabSize(), e});
        for (int i = 0; i < c.nLayer(); i++) {
            String h = "layers." + i + ".";
            m.put(h + "input_layernorm.weight", new long[] {e});
            m.put(h + "self_attn.qkv_proj.weight", new long[] {e, qkv});
            if (ll.attentionBias()) {
                m.put(h + "self_attn.qkv_proj.bias", new long[] {qkv});
            }
            m.put(h + "self_attn.o_proj.weight", new long[] {e, e});
            if (ll.attentionBias()) {
                m.put(h + "self_attn.o_proj.bias", new long[] {e});
            }
            m.put(h + "post_attention_layernorm.weight", new long[] {e});
            m.put(h + "mlp.gate_up_proj.weight", new long[] {e, 2 * inter});
            m.put(h + "mlp.down_proj.weight", new long[] {inter, e});
        }
        m.put("norm.weight", new long[] {e});
        if (!ll.tieWordEmbeddings()) {
            m.put("lm_head.weight", new long[] {c.vocabSize(), e});
        }
        return m;
    }

    /** The token embedding {@code [V, C]}: {@code wte} or {@code embed_tokens}. */
    public INDArray embedding() {
        return get(config.llama() == null ? "wte.weight" : "embed_tokens.weight");
    }

    /** The LM head {@code [V, C]} (logits = rows times its transpose): the embedding when tied. */
    public INDArray head() {
        return config.llama() != null && !config.llama().tieWordEmbeddings() ? get("lm_head.weight") : embedding();
    }

    /** The name prefix of block {@code i}'s tensors: {@code h.i.} or {@code layers.i.}. */
    public static String layerPrefix(GptConfig c, int i) {
        return (c.llama() == null ? "h." : "layers.") + i + ".";
    }

    /** Whether block {@code i} has tensor {@code name} (a Llama model's biases are optional). */
    public boolean hasLayer(int i, String name) {
        return tensors.containsKey(layerPrefix(config, i) + name);
    }

    /**
     * 1 where AdamW decays the value, 0 where it does not: weight decay applies to the matrices of the
     * linear layers only (a separate LM head is one), never to biases, norms or embeddings.
     */
    public INDArray decayMask() {
        INDArray mask = Nd4j.zeros(DataType.FLOAT, flat.length());
        for (Map.Entry<String, INDArray> e : tensors.entrySet()) {
            String name = e.getKey();
            boolean inBlock = name.startsWith("h.") || name.startsWith("layers.");
            if ((inBlock || name.equals("lm_head.weight")) && name.endsWith(".weight") && e.getValue().rank() == 2) {
                long off = offsets.get(e.getKey());
                mask.get(NDArrayIndex.interval(off, off + e.getValue().length())).assign(1.0);
            }
        }
        return mask;
    }

    public INDArray get(String name) {
        INDArray t = tensors.get(name);
        if (t == null) {
            throw new IllegalArgumentException("no tensor " + name);
        }
        return t;
    }

    public INDArray layer(int i, String name) {
        return get(layerPrefix(config, i) + name);
    }

    public List<String> names() {
        return Collections.unmodifiableList(new ArrayList<>(tensors.keySet()));
    }

    public long[] shape(String name) {
        return shapes.get(name).clone();
    }

    public INDArray flat() {
        return flat;
    }

    /**
     * A cheap fingerprint of the weights' bits (CRC32C over the native buffer, no copy): the ranks of a distributed
     * run compare theirs to prove they hold the same parameters.
     */
    public long hash() {
        java.util.zip.CRC32C crc = new java.util.zip.CRC32C();
        crc.update(flat.data().asNio().order(java.nio.ByteOrder.nativeOrder()).limit((int) (flat.length() * 4)));
        return crc.getValue();
    }

    public GptConfig config() {
        return config;
    }

    /**
     * SHA-256 of the weights as little-endian float32, in layout order: names a teacher independently
     * of the file it came in (a checkpoint, or a Hugging Face folder imported on the fly).
     */
    public String sha256() {
        INDArray f = flat.isView() ? flat.dup('c') : flat;
        MessageDigest digest = Sha256.newDigest();
        try {
            ByteBuffer bytes = f.data().asNio().order(ByteOrder.LITTLE_ENDIAN);
            bytes.position(0).limit(Math.toIntExact(f.length() * 4));
            digest.update(bytes);
        } finally {
            // The NIO view does not own the native memory: keep the array reachable until it is read.
            java.lang.ref.Reference.reachabilityFence(f);
        }
        return Sha256.hex(digest.digest());
    }

    public GptParameters copy() {
        return new GptParameters(config, flat.dup());
    }
}
