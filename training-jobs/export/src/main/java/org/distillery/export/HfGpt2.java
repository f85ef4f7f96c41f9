package org.distillery.export;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Path;
import java.util.Map;
import org.distillery.core.DistilleryException;
import org.distillery.model.GptConfig;

/**
 * Hugging Face's GPT-2 ({@code GPT2LMHeadModel}) as Distillery maps it: tensor names are Distillery's
 * with the {@code transformer.} prefix, in the same Conv1D {@code [in, out]} layout, so no tensor is
 * transposed either way; the LM head is tied to {@code wte} and not stored, as {@code save_pretrained}
 * does. {@code config.json} is written in full and read strictly: an option that would change the
 * network (another activation, an inner width other than 4x, cross-attention, ...) is an error naming
 * its key, never silently ignored.
 */
public final class HfGpt2 {
    static final ObjectMapper JSON = new ObjectMapper();
    public static final String PREFIX = "transformer.";

    private HfGpt2() {
    }

    /** config.json for {@code c}; {@code eot} is the end-of-text token id, or -1 for none. */
    public static ObjectNode config(GptConfig c, int eot, TensorType type, Map<String, String> provenance) {
        ObjectNode n = JSON.createObjectNode();
        n.putArray("architectures").add("GPT2LMHeadModel");
        n.put("model_type", "gpt2");
        n.put("vocab_size", c.vocabSize());
        n.put("n_positions", c.blockSize());
        n.put("n_ctx", c.blockSize());
        n.put("n_embd", c.nEmbd());
        n.put("n_layer", c.nLayer());
        n.put("n_head", c.nHead());
        n.putNull("n_inner");
        n.put("activation_function", "gelu_new");
        n.put("resid_pdrop", c.dropout());
        n.put("embd_pdrop", c.dropout());
        n.put("attn_pdrop", c.dropout());
        n.put("layer_norm_epsilon", (double) GptConfig.LN_EPS);
        n.put("initializer_range", 0.02);
        n.put("scale_attn_weights", true);
        n.put("scale_attn_by_inverse_layer_idx", false);
        n.put("reorder_and_upcast_attn", false);
        n.put("tie_word_embeddings", true);
        n.put("use_cache", true);
        return putCommon(n, eot, type, provenance);
    }

    /**
     * The keys every architecture's config.json ends with: the end-of-text token as BOS and EOS (when there is one),
     * the weights' {@code torch_dtype}, and the provenance under {@code distillery}.
     */
    static ObjectNode putCommon(ObjectNode n, int eot, TensorType type, Map<String, String> provenance) {
        if (eot >= 0) {
            n.put("bos_token_id", eot);
            n.put("eos_token_id", eot);
        }
        n.put("torch_dtype", switch (type) {
            case F32 -> "float32";
            case F16 -> "float16";
            case BF16 -> "bfloat16";
        });
        ObjectNode p = n.putObject("distillery");
        provenance.forEach((k, v) -> p.put(k.substring(ExportProvenance.PREFIX.length()), v));
        return n;
    }

    /** The model config from a GPT-2 config.json, checked key by key; {@code file} names it in errors. */
    public static GptConfig parseConfig(JsonNode n, Path file) {
        String type = text(n, "model_type", file);
        if (!"gpt2".equals(type)) {
            throw unsupported(file, "model_type", type, "gpt2 (only GPT-2 architectures import)");
        }
        JsonNode arch = n.get("architectures");
        if (arch != null && arch.isArray()) {
            for (JsonNode a : arch) {
                String s = a.asText();
                if (!s.equals("GPT2LMHeadModel") && !s.equals("GPT2Model")) {
                    throw unsupported(file, "architectures", s, "GPT2LMHeadModel");
                }
            }
        }
        int embd = integer(n, "n_embd", file);
        int heads = integer(n, "n_head", file);
        int layers = integer(n, "n_layer", file);
        int vocab = integer(n, "vocab_size", file);
        int positions = n.has("n_positions") ? integer(n, "n_positions", file) : integer(n, "n_ctx", file);
        if (embd % heads != 0) {
            throw new DistilleryException(file + ": n_embd (" + embd + ") is not divisible by n_head (" + heads + ")");
        }
        String act = n.path("activation_function").asText("gelu_new");
        if (!act.equals("gelu_new") && !act.equals("gelu_pytorch_tanh")) {
            throw unsupported(file, "activation_function", act, "gelu_new (GPT-2's tanh GELU)");
        }
        JsonNode inner = n.get("n_inner");
        if (inner != null && !inner.isNull() && inner.asInt() != 4 * embd) {
            throw unsupported(file, "n_inner", inner.asText(), "null or 4 * n_embd = " + 4 * embd);
        }
        double eps = n.path("layer_norm_epsilon").asDouble(1e-5);
        if (Math.abs(eps - GptConfig.LN_EPS) > 1e-9) {
            throw unsupported(file, "layer_norm_epsilon", String.valueOf(eps), "1e-05");
        }
        requireFlag(n, "scale_attn_weights", true, file);
        requireFlag(n, "scale_attn_by_inverse_layer_idx", false, file);
        requireFlag(n, "reorder_and_upcast_attn", false, file);
        requireFlag(n, "add_cross_attention", false, file);
        requireFlag(n, "tie_word_embeddings", true, file);
        double dropout = n.path("resid_pdrop").asDouble(0.1);
        return new GptConfig(layers, heads, embd, positions, vocab, dropout);
    }

    static void requireFlag(JsonNode n, String key, boolean expected, Path file) {
        JsonNode v = n.get(key);
        if (v != null && !v.isNull() && v.asBoolean() != expected) {
            throw unsupported(file, key, v.asText(), String.valueOf(expected));
        }
    }

    private static String text(JsonNode n, String key, Path file) {
        JsonNode v = n.get(key);
        if (v == null || !v.isTextual()) {
            throw new DistilleryException(file + ": key " + key + " is missing or not a string");
        }
        return v.asText();
    }

    static int integer(JsonNode n, String key, Path file) {
        JsonNode v = n.get(key);
        if (v == null || !v.isIntegralNumber() || v.asLong() <= 0 || v.asLong() > Integer.MAX_VALUE) {
            throw new DistilleryException(file + ": key " + key + " is missing or not a positive integer");
        }
        return v.asInt();
    }

    static DistilleryException unsupported(Path file, String key, String value, String expected) {
        return new DistilleryException(file + ": key " + key + " is " + value + ", which Distillery does not support;"
                + " expected " + expected);
    }
}
