package org.distillery.export;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import org.distillery.core.DistilleryException;
import org.distillery.model.GptConfig;
import org.distillery.model.GptParameters;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * Hugging Face's Llama family as Distillery maps it. Exports are {@code LlamaForCausalLM}; imports read
 * {@code LlamaForCausalLM}, {@code Qwen2ForCausalLM} and {@code MistralForCausalLM}, which share the network.
 * Names are Hugging Face's ({@code model.layers.N.self_attn.q_proj.weight}, ...); its linear weights are
 * {@code [out, in]} where Distillery's are {@code [in, out]}, and its separate q, k, v (and gate, up) are column
 * blocks of Distillery's fused {@code qkv_proj} ({@code gate_up_proj}), so every matrix is transposed and split
 * on the way out and joined on the way in. A Qwen2 model's q/k/v biases import with a zero o bias (Llama's
 * {@code attention_bias} covers all four), which is the same network.
 *
 * <p>{@code config.json} is read strictly: a setting that would change the network and that Distillery does not
 * build (a sliding window shorter than the context, rope scaling, another activation, MLP biases, ...) is an error
 * naming its key, and so is a key it does not know.
 */
public final class HfLlama {
    public static final String PREFIX = "model.";
    public static final Set<String> MODEL_TYPES = Set.of("llama", "qwen2", "mistral");
    private static final Map<String, String> ARCHITECTURES = Map.of("llama", "LlamaForCausalLM",
            "qwen2", "Qwen2ForCausalLM", "mistral", "MistralForCausalLM");
    /** Keys of any Hugging Face config that do not change the network. */
    private static final Set<String> NEUTRAL = Set.of("architectures", "model_type", "bos_token_id", "eos_token_id",
            "pad_token_id", "torch_dtype", "dtype", "transformers_version", "use_cache", "initializer_range",
            "_name_or_path", "output_attentions", "output_hidden_states", "return_dict", "tokenizer_class",
            "pretraining_tp", "distillery", "max_window_layers", "use_sliding_window", "sliding_window", "layer_types",
            "use_mrope", "id2label", "label2id");
    /** Keys read into the model's shape. */
    private static final Set<String> SHAPE = Set.of("vocab_size", "hidden_size", "intermediate_size",
            "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim", "hidden_act",
            "max_position_embeddings", "rms_norm_eps", "rope_theta", "rope_scaling", "rope_parameters",
            "tie_word_embeddings", "attention_bias", "attention_dropout", "mlp_bias");

    private HfLlama() {
    }

    /** config.json for {@code c} as {@code LlamaForCausalLM}; {@code eot} is the end-of-text token id, or -1. */
    public static ObjectNode config(GptConfig c, int eot, TensorType type, Map<String, String> provenance) {
        GptConfig.Llama ll = c.llama();
        ObjectNode n = HfGpt2.JSON.createObjectNode();
        n.putArray("architectures").add("LlamaForCausalLM");
        n.put("model_type", "llama");
        n.put("vocab_size", c.vocabSize());
        n.put("hidden_size", c.nEmbd());
        n.put("intermediate_size", ll.intermediateSize());
        n.put("num_hidden_layers", c.nLayer());
        n.put("num_attention_heads", c.nHead());
        n.put("num_key_value_heads", ll.nKvHead());
        n.put("head_dim", c.headSize());
        n.put("hidden_act", "silu");
        n.put("max_position_embeddings", c.blockSize());
        n.put("rms_norm_eps", ll.rmsNormEps());
        ObjectNode rope = n.putObject("rope_parameters");
        rope.put("rope_type", "default");
        rope.put("rope_theta", ll.ropeTheta());
        n.put("tie_word_embeddings", ll.tieWordEmbeddings());
        n.put("attention_bias", ll.attentionBias());
        n.put("attention_dropout", c.dropout());
        n.put("mlp_bias", false);
        n.put("initializer_range", 0.02);
        n.put("use_cache", true);
        return HfGpt2.putCommon(n, eot, type, provenance);
    }

    /** The model config from a Llama, Qwen2 or Mistral config.json, checked key by key; {@code file} names it. */
    public static GptConfig parseConfig(JsonNode n, Path file) {
        String type = n.path("model_type").asText();
        if (!MODEL_TYPES.contains(type)) {
            throw HfGpt2.unsupported(file, "model_type", type, "llama, qwen2 or mistral");
        }
        for (JsonNode a : n.path("architectures")) {
            String s = a.asText();
            if (!s.equals(ARCHITECTURES.get(type))) {
                throw HfGpt2.unsupported(file, "architectures", s, ARCHITECTURES.get(type) + " for model_type " + type);
            }
        }
        n.fieldNames().forEachRemaining(key -> {
            if (!NEUTRAL.contains(key) && !SHAPE.contains(key)) {
                throw new DistilleryException(file + ": key " + key + " is not a " + type + " setting Distillery knows;"
                        + " it may change the network, so the model is not imported");
            }
        });
        int embd = HfGpt2.integer(n, "hidden_size", file);
        int heads = HfGpt2.integer(n, "num_attention_heads", file);
        int kv = n.hasNonNull("num_key_value_heads") ? HfGpt2.integer(n, "num_key_value_heads", file) : heads;
        int layers = HfGpt2.integer(n, "num_hidden_layers", file);
        int vocab = HfGpt2.integer(n, "vocab_size", file);
        int inter = HfGpt2.integer(n, "intermediate_size", file);
        int positions = HfGpt2.integer(n, "max_position_embeddings", file);
        if (embd % heads != 0) {
            throw new DistilleryException(file + ": key hidden_size (" + embd + ") is not divisible by"
                    + " num_attention_heads (" + heads + ")");
        }
        if (heads % kv != 0) {
            throw new DistilleryException(file + ": key num_key_value_heads (" + kv + ") does not divide"
                    + " num_attention_heads (" + heads + ")");
        }
        if (n.hasNonNull("head_dim") && n.get("head_dim").asInt() != embd / heads) {
            throw HfGpt2.unsupported(file, "head_dim", n.get("head_dim").asText(), "hidden_size / num_attention_heads = "
                    + embd / heads);
        }
        if ((embd / heads) % 2 != 0) {
            throw new DistilleryException(file + ": the head size " + embd / heads + " is odd; RoPE needs it even");
        }
        String act = n.path("hidden_act").asText("silu");
        if (!act.equals("silu")) {
            throw HfGpt2.unsupported(file, "hidden_act", act, "silu");
        }
        HfGpt2.requireFlag(n, "mlp_bias", false, file);
        if (n.hasNonNull("rope_scaling")) {
            throw HfGpt2.unsupported(file, "rope_scaling", n.get("rope_scaling").toString(), "null (plain RoPE)");
        }
        double theta = n.path("rope_theta").asDouble(10000.0);
        JsonNode rope = n.get("rope_parameters");
        if (rope != null && !rope.isNull()) {
            String ropeType = rope.path("rope_type").asText("default");
            if (!ropeType.equals("default")) {
                throw HfGpt2.unsupported(file, "rope_parameters.rope_type", ropeType, "default (plain RoPE)");
            }
            rope.fieldNames().forEachRemaining(key -> {
                if (!key.equals("rope_type") && !key.equals("rope_theta")) {
                    throw HfGpt2.unsupported(file, "rope_parameters." + key, rope.get(key).toString(),
                            "only rope_type default and rope_theta");
                }
            });
            theta = rope.path("rope_theta").asDouble(theta);
        }
        boolean window = type.equals("mistral") || n.path("use_sliding_window").asBoolean(false);
        JsonNode sliding = n.get("sliding_window");
        if (window && sliding != null && !sliding.isNull() && sliding.asLong() < positions) {
            throw HfGpt2.unsupported(file, "sliding_window", sliding.asText(), "null or at least max_position_embeddings ("
                    + positions + "): Distillery attends over the whole context");
        }
        for (JsonNode layer : n.path("layer_types")) {
            if (!layer.asText().equals("full_attention")) {
                throw HfGpt2.unsupported(file, "layer_types", layer.asText(), "full_attention in every layer");
            }
        }
        HfGpt2.requireFlag(n, "use_mrope", false, file);
        boolean bias = type.equals("qwen2") || n.path("attention_bias").asBoolean(false);
        GptConfig.Llama llama = new GptConfig.Llama(kv, inter, theta, n.path("rms_norm_eps").asDouble(1e-6),
                n.path("tie_word_embeddings").asBoolean(false), bias);
        return new GptConfig(layers, heads, embd, positions, vocab, n.path("attention_dropout").asDouble(0.0), llama);
    }

    /** The tensors of a Llama {@code params} under Hugging Face's names and {@code [out, in]} layouts. */
    public static List<NamedTensor> tensors(GptParameters p) {
        GptConfig c = p.config();
        List<NamedTensor> out = new ArrayList<>();
        out.add(same(PREFIX + "embed_tokens.weight", p.get("embed_tokens.weight")));
        for (int l = 0; l < c.nLayer(); l++) {
            String hf = PREFIX + "layers." + l + ".";
            out.add(same(hf + "input_layernorm.weight", p.layer(l, "input_layernorm.weight")));
            for (Block b : attention(c)) {
                out.add(transposed(hf + "self_attn." + b.name() + ".weight", cols(p.layer(l, "self_attn.qkv_proj.weight"), b)));
                if (p.hasLayer(l, "self_attn.qkv_proj.bias")) {
                    out.add(same(hf + "self_attn." + b.name() + ".bias", p.layer(l, "self_attn.qkv_proj.bias")
                            .get(NDArrayIndex.interval(b.from(), b.to()))));
                }
            }
            out.add(transposed(hf + "self_attn.o_proj.weight", p.layer(l, "self_attn.o_proj.weight")));
            if (p.hasLayer(l, "self_attn.o_proj.bias")) {
                out.add(same(hf + "self_attn.o_proj.bias", p.layer(l, "self_attn.o_proj.bias")));
            }
            out.add(same(hf + "post_attention_layernorm.weight", p.layer(l, "post_attention_layernorm.weight")));
            for (Block b : mlp(c)) {
                out.add(transposed(hf + "mlp." + b.name() + ".weight", cols(p.layer(l, "mlp.gate_up_proj.weight"), b)));
            }
            out.add(transposed(hf + "mlp.down_proj.weight", p.layer(l, "mlp.down_proj.weight")));
        }
        out.add(same(PREFIX + "norm.weight", p.get("norm.weight")));
        if (!c.llama().tieWordEmbeddings()) {
            out.add(same("lm_head.weight", p.get("lm_head.weight")));
        }
        return out;
    }

    /**
     * Fills {@code params} from Hugging Face tensors ({@code read} gives a stored tensor's values by name, null when
     * absent); shapes are checked against the config, and {@code where} names the folder in errors. Returns the
     * stored names it used.
     */
    static Set<String> load(GptParameters params, Map<String, long[]> stored, Function<String, INDArray> read,
                            Path where) {
        GptConfig c = params.config();
        Set<String> used = new java.util.HashSet<>();
        Loader in = new Loader(stored, read, where, used);
        params.get("embed_tokens.weight").assign(in.get(PREFIX + "embed_tokens.weight", params.shape("embed_tokens.weight")));
        for (int l = 0; l < c.nLayer(); l++) {
            String hf = PREFIX + "layers." + l + ".";
            params.layer(l, "input_layernorm.weight").assign(in.get(hf + "input_layernorm.weight", new long[] {c.nEmbd()}));
            INDArray qkv = params.layer(l, "self_attn.qkv_proj.weight");
            for (Block b : attention(c)) {
                cols(qkv, b).assign(in.get(hf + "self_attn." + b.name() + ".weight", new long[] {b.width(), c.nEmbd()})
                        .transpose());
                if (params.hasLayer(l, "self_attn.qkv_proj.bias")) {
                    params.layer(l, "self_attn.qkv_proj.bias").get(NDArrayIndex.interval(b.from(), b.to()))
                            .assign(in.get(hf + "self_attn." + b.name() + ".bias", new long[] {b.width()}));
                }
            }
            params.layer(l, "self_attn.o_proj.weight").assign(in.get(hf + "self_attn.o_proj.weight",
                    new long[] {c.nEmbd(), c.nEmbd()}).transpose());
            if (params.hasLayer(l, "self_attn.o_proj.bias")) {
                INDArray bias = in.optional(hf + "self_attn.o_proj.bias", new long[] {c.nEmbd()});
                if (bias != null) { // Qwen2 has none: zero, as the parameters start
                    params.layer(l, "self_attn.o_proj.bias").assign(bias);
                }
            }
            params.layer(l, "post_attention_layernorm.weight").assign(in.get(hf + "post_attention_layernorm.weight",
                    new long[] {c.nEmbd()}));
            INDArray gateUp = params.layer(l, "mlp.gate_up_proj.weight");
            for (Block b : mlp(c)) {
                cols(gateUp, b).assign(in.get(hf + "mlp." + b.name() + ".weight", new long[] {b.width(), c.nEmbd()})
                        .transpose());
            }
            params.layer(l, "mlp.down_proj.weight").assign(in.get(hf + "mlp.down_proj.weight",
                    new long[] {c.nEmbd(), c.llama().intermediateSize()}).transpose());
        }
        params.get("norm.weight").assign(in.get(PREFIX + "norm.weight", new long[] {c.nEmbd()}));
        if (!c.llama().tieWordEmbeddings()) {
            params.get("lm_head.weight").assign(in.get("lm_head.weight", params.shape("lm_head.weight")));
        }
        return used;
    }

    /**
     * The tensors {@link #load} requires for {@code c}, under Hugging Face's names, with their shapes: computed from
     * the config alone, so that the stored headers can be checked before the parameters are allocated. Qwen2's
     * absent o bias is optional and not listed.
     */
    static Map<String, long[]> requiredShapes(GptConfig c) {
        long e = c.nEmbd();
        long inter = c.llama().intermediateSize();
        Map<String, long[]> m = new java.util.LinkedHashMap<>();
        m.put(PREFIX + "embed_tokens.weight", new long[] {c.vocabSize(), e});
        for (int l = 0; l < c.nLayer(); l++) {
            String hf = PREFIX + "layers." + l + ".";
            m.put(hf + "input_layernorm.weight", new long[] {e});
            for (Block b : attention(c)) {
                m.put(hf + "self_attn." + b.name() + ".weight", new long[] {b.width(), e});
                if (c.llama().attentionBias()) {
                    m.put(hf + "self_attn." + b.name() + ".bias", new long[] {b.width()});
                }
            }
            m.put(hf + "self_attn.o_proj.weight", new long[] {e, e});
            m.put(hf + "post_attention_layernorm.weight", new long[] {e});
            for (Block b : mlp(c)) {
                m.put(hf + "mlp." + b.name() + ".weight", new long[] {b.width(), e});
            }
            m.put(hf + "mlp.down_proj.weight", new long[] {e, inter});
        }
        m.put(PREFIX + "norm.weight", new long[] {e});
        if (!c.llama().tieWordEmbeddings()) {
            m.put("lm_head.weight", new long[] {c.vocabSize(), e});
        }
        return m;
    }

    /** Column block {@code [from, to)} of a fused matrix: one of q, k, v (or gate, up). */
    private record Block(String name, long from, long to) {
        long width() {
            return to - from;
        }
    }

    private static List<Block> attention(GptConfig c) {
        long q = c.nEmbd();
        long kv = (long) c.kvHeads() * c.headSize();
        return List.of(new Block("q_proj", 0, q), new Block("k_proj", q, q + kv), new Block("v_proj", q + kv, q + 2 * kv));
    }

    private static List<Block> mlp(GptConfig c) {
        long i = c.llama().intermediateSize();
        return List.of(new Block("gate_proj", 0, i), new Block("up_proj", i, 2 * i));
    }

    private static INDArray cols(INDArray w, Block b) {
        return w.get(NDArrayIndex.all(), NDArrayIndex.interval(b.from(), b.to()));
    }

    private static NamedTensor same(String name, INDArray v) {
        return new NamedTensor(name, v.shape(), v);
    }

    /** {@code [in, out]} → Hugging Face's {@code [out, in]} (a copy: the writers read row-major values). */
    private static NamedTensor transposed(String name, INDArray w) {
        INDArray t = w.transpose().dup('c');
        return new NamedTensor(name, t.shape(), t);
    }

    /** Reads stored tensors by name with their shapes checked, noting which it used. */
    private record Loader(Map<String, long[]> stored, Function<String, INDArray> read, Path where, Set<String> used) {
        INDArray get(String name, long[] shape) {
            INDArray v = optional(name, shape);
            if (v == null) {
                throw new DistilleryException(where + ": no tensor " + name + " in the model's safetensors");
            }
            return v;
        }

        INDArray optional(String name, long[] shape) {
            long[] have = stored.get(name);
            if (have == null) {
                return null;
            }
            if (!Arrays.equals(have, shape)) {
                throw new DistilleryException(where + ": tensor " + name + " has shape " + Arrays.toString(have)
                        + " but config.json implies " + Arrays.toString(shape));
            }
            used.add(name);
            return read.apply(name).reshape(shape);
        }
    }
}
