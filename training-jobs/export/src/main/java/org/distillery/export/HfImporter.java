package org.distillery.export;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.distillery.core.DistilleryException;
import org.distillery.core.io.Sha256;
import org.distillery.core.tokenizer.BpeTokenizer;
import org.distillery.core.tokenizer.Gpt2VocabFiles;
import org.distillery.core.tokenizer.HfTokenizerJson;
import org.distillery.model.Checkpoint;
import org.distillery.model.GptConfig;
import org.distillery.model.GptParameters;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * A Hugging Face GPT-2 or Llama-family folder (config.json; model.safetensors or a sharded index of them;
 * the tokenizer as tokenizer.json or vocab.json + merges.txt) read into a Distillery checkpoint that
 * generation, training and distillation can start from. Weights are checked against config.json
 * tensor by tensor, and a stored tensor the model does not use is an error; a Distillery export's provenance
 * (run, data, step) comes back from its metadata.
 */
public final class HfImporter {
    /** Buffers older GPT-2 checkpoints store (causal masks): not weights. */
    private static final List<String> BUFFERS = List.of(".attn.bias", ".attn.masked_bias");

    private HfImporter() {
    }

    public static Checkpoint read(Path dir, String distilleryVersion) {
        if (!Files.isDirectory(dir)) {
            throw new DistilleryException(dir + ": not a folder (expected a Hugging Face model folder with config.json)");
        }
        Path configFile = dir.resolve("config.json");
        JsonNode configJson = readJson(configFile);
        boolean llama = HfLlama.MODEL_TYPES.contains(configJson.path("model_type").asText());
        GptConfig config = llama ? HfLlama.parseConfig(configJson, configFile) : HfGpt2.parseConfig(configJson, configFile);
        requireBuildable(config, configJson, configFile);
        String tokenizerJson = tokenizer(dir);
        BpeTokenizer tok = HfTokenizerJson.parse(tokenizerJson, dir.resolve("tokenizer.json").toString());
        if (tok.vocabSize() > config.vocabSize()) {
            throw new DistilleryException(dir + ": the tokenizer has " + tok.vocabSize() + " tokens but config.json's"
                    + " vocab_size is " + config.vocabSize());
        }
        Map<String, SafetensorsFile> byTensor = weights(dir);
        requireTensors(config, configJson, configFile, byTensor, dir);
        GptParameters params = GptParameters.zeros(config);
        Map<String, String> metadata = new HashMap<>();
        if (llama) {
            Map<String, long[]> shapes = new HashMap<>();
            byTensor.forEach((name, f) -> shapes.put(name, f.entries().get(name).shape()));
            java.util.Set<String> used = HfLlama.load(params, shapes, name -> byTensor.get(name).read(name), dir);
            for (Map.Entry<String, SafetensorsFile> e : byTensor.entrySet()) {
                boolean buffer = e.getKey().endsWith("rotary_emb.inv_freq"); // older saves keep RoPE's table
                if (!used.contains(e.getKey()) && !buffer && !(e.getKey().equals("lm_head.weight")
                        && config.llama().tieWordEmbeddings())) {
                    throw new DistilleryException(e.getValue().file() + ": tensor " + e.getKey() + " is not part of "
                            + configJson.path("model_type").asText() + " as Distillery builds it (config.json may ask"
                            + " for an option it does not support)");
                }
            }
        } else {
            loadGpt2(params, byTensor, dir);
        }
        new java.util.LinkedHashSet<>(byTensor.values()).forEach(f -> metadata.putAll(f.metadata()));
        String p = ExportProvenance.PREFIX;
        long step = parseLong(metadata.get(p + "step"));
        String dataSha = metadata.get(p + "dataset_manifest_sha256");
        Map<String, Object> spec = new LinkedHashMap<>();
        spec.put("imported_from", dir.toAbsolutePath().toString());
        Checkpoint.Header h = Checkpoint.Header.of(distilleryVersion, config,
                        new Checkpoint.Tokenizer(Sha256.of(tokenizerJson), tok.vocabSize(), tokenizerJson))
                .atStep(step, 0).withData(dataSha == null ? null : new Checkpoint.Data(dataSha, null)).withSpec(spec)
                .withRunId(metadata.get(p + "run_id"));
        Map<String, INDArray> sections = new LinkedHashMap<>();
        sections.put(Checkpoint.PARAMS, params.flat());
        return new Checkpoint(h, sections);
    }

    /**
     * The shape within what a spec may ask for: a context length has no tensor to check it against, and the model
     * sizes its RoPE tables by it when built, so an absurd one is refused here naming its key.
     */
    private static void requireBuildable(GptConfig c, JsonNode json, Path configFile) {
        org.distillery.core.spec.Validation.Problem p = c.problem();
        if (p == null) {
            return;
        }
        String field = p.path().substring("model.".length());
        boolean llama = c.llama() != null;
        String key = switch (field) {
            case "n_layer" -> llama ? "num_hidden_layers" : "n_layer";
            case "n_head" -> llama ? "num_attention_heads" : "n_head";
            case "n_embd" -> llama ? "hidden_size" : "n_embd";
            case "block_size" -> llama ? "max_position_embeddings" : json.has("n_positions") ? "n_positions" : "n_ctx";
            case "dropout" -> llama ? "attention_dropout" : "resid_pdrop";
            case "n_kv_head" -> "num_key_value_heads";
            default -> field; // vocab_size, intermediate_size, rope_theta, rms_norm_eps: the same key
        };
        throw new DistilleryException(configFile + ": key " + key + " is beyond what Distillery builds: model." + field
                + " " + p.message());
    }

    /**
     * Checks, from the safetensors headers alone, that they hold every tensor config.json implies with the shape it
     * implies, before the parameters are allocated: config.json's sizes are then vouched for by tensors the files
     * really hold, and a crafted one (a huge n_embd or layer count) is an error naming config.json and its field
     * instead of gigabytes of zeros. Dimensions come first, layer by layer next, so that the lists of names built
     * last are no longer than the headers'.
     */
    private static void requireTensors(GptConfig c, JsonNode json, Path configFile,
                                       Map<String, SafetensorsFile> byTensor, Path dir) {
        boolean llama = c.llama() != null;
        // GPT-2's names come with or without "transformer.", tensor by tensor, as loadGpt2 reads them.
        java.util.function.UnaryOperator<String> at = llama ? n -> HfLlama.PREFIX + n
                : n -> byTensor.containsKey(HfGpt2.PREFIX + n) ? HfGpt2.PREFIX + n : n;
        Dims d = new Dims(byTensor, configFile, dir);
        String embedding = at.apply(llama ? "embed_tokens.weight" : "wte.weight");
        String width = llama ? "hidden_size" : "n_embd";
        d.require(embedding, 1, c.nEmbd(), width, c.nEmbd());
        d.require(embedding, 0, c.vocabSize(), "vocab_size", c.vocabSize());
        if (llama) {
            String kv = json.hasNonNull("num_key_value_heads") ? "num_key_value_heads" : "num_attention_heads";
            d.require(at.apply("layers.0.self_attn.k_proj.weight"), 0, (long) c.kvHeads() * c.headSize(), kv,
                    c.kvHeads());
            d.require(at.apply("layers.0.mlp.gate_proj.weight"), 0, c.llama().intermediateSize(), "intermediate_size",
                    c.llama().intermediateSize());
        } else {
            d.require(at.apply("wpe.weight"), 0, c.blockSize(), json.has("n_positions") ? "n_positions" : "n_ctx",
                    c.blockSize());
        }
        String layers = llama ? "num_hidden_layers" : "n_layer";
        for (int l = 0; l < c.nLayer(); l++) { // stops at the first layer the files lack: as many rounds as tensors
            String first = at.apply(llama ? "layers." + l + ".input_layernorm.weight" : "h." + l + ".ln_1.weight");
            if (!byTensor.containsKey(first)) {
                throw new DistilleryException(configFile + ": " + layers + " is " + c.nLayer() + ", but the model's"
                        + " safetensors hold no " + first + " (layer " + l + ")");
            }
        }
        Map<String, long[]> required = llama ? HfLlama.requiredShapes(c) : new LinkedHashMap<>();
        if (!llama) {
            GptParameters.layout(c).forEach((name, shape) -> required.put(at.apply(name), shape));
        }
        required.forEach((name, shape) -> d.shape(name, shape));
    }

    /** Stored tensor shapes, looked up with errors naming the file, or config.json and the field that disagrees. */
    private record Dims(Map<String, SafetensorsFile> byTensor, Path configFile, Path dir) {
        private long[] stored(String name) {
            SafetensorsFile f = byTensor.get(name);
            if (f == null) {
                throw new DistilleryException(dir + ": no tensor " + name + " in the model's safetensors");
            }
            return f.entries().get(name).shape();
        }

        /** Dimension {@code axis} of tensor {@code name} must be {@code expected}, which {@code field} sets. */
        void require(String name, int axis, long expected, String field, int value) {
            long[] have = stored(name);
            if (have.length <= axis || have[axis] != expected) {
                throw new DistilleryException(configFile + ": " + field + " is " + value + ", but "
                        + byTensor.get(name).file() + " holds " + name + " with shape " + Arrays.toString(have)
                        + " where config.json implies " + expected + " in dimension " + axis);
            }
        }

        void shape(String name, long[] expected) {
            if (!Arrays.equals(stored(name), expected)) {
                throw new DistilleryException(byTensor.get(name).file() + ": tensor " + name + " has shape "
                        + Arrays.toString(stored(name)) + " but config.json implies " + Arrays.toString(expected));
            }
        }
    }

    private static void loadGpt2(GptParameters params, Map<String, SafetensorsFile> byTensor, Path dir) {
        for (String name : params.names()) {
            String stored = byTensor.containsKey(HfGpt2.PREFIX + name) ? HfGpt2.PREFIX + name : name;
            SafetensorsFile f = byTensor.get(stored);
            if (f == null) {
                throw new DistilleryException(dir + ": no tensor " + HfGpt2.PREFIX + name + " in the model's safetensors");
            }
            SafetensorsFile.Entry e = f.entries().get(stored);
            if (!Arrays.equals(e.shape(), params.shape(name))) {
                throw new DistilleryException(f.file() + ": tensor " + stored + " has shape " + Arrays.toString(e.shape())
                        + " but config.json implies " + Arrays.toString(params.shape(name)));
            }
            INDArray values = f.read(stored);
            params.get(name).assign(values.reshape(params.shape(name)));
        }
        for (Map.Entry<String, SafetensorsFile> e : byTensor.entrySet()) {
            String n = e.getKey().startsWith(HfGpt2.PREFIX) ? e.getKey().substring(HfGpt2.PREFIX.length()) : e.getKey();
            boolean known = params.names().contains(n) || n.equals("lm_head.weight")
                    || BUFFERS.stream().anyMatch(n::endsWith);
            if (!known) {
                throw new DistilleryException(e.getValue().file() + ": tensor " + e.getKey() + " is not part of GPT-2 as"
                        + " Distillery builds it (config.json may ask for an option it does not support)");
            }
        }
    }

    private static long parseLong(String s) {
        try {
            return s == null ? 0 : Long.parseLong(s);
        } catch (NumberFormatException e) {
            return 0;
        }
    }

    /** tokenizer.json verbatim, else GPT-2's vocab.json + merges.txt converted to it. */
    private static String tokenizer(Path dir) {
        Path json = dir.resolve("tokenizer.json");
        if (Files.isRegularFile(json)) {
            try {
                return Files.readString(json, StandardCharsets.UTF_8);
            } catch (IOException e) {
                throw new DistilleryException(json + ": cannot read: " + e.getMessage(), e);
            }
        }
        Path vocab = dir.resolve("vocab.json");
        Path merges = dir.resolve("merges.txt");
        if (Files.isRegularFile(vocab) && Files.isRegularFile(merges)) {
            return HfTokenizerJson.toJson(Gpt2VocabFiles.read(vocab, merges));
        }
        throw new DistilleryException(dir + ": no tokenizer: expected tokenizer.json, or vocab.json and merges.txt");
    }

    /** Tensor name to the file that holds it: model.safetensors, or the files of model.safetensors.index.json. */
    private static Map<String, SafetensorsFile> weights(Path dir) {
        Map<String, SafetensorsFile> out = new LinkedHashMap<>();
        Path single = dir.resolve("model.safetensors");
        Path index = dir.resolve("model.safetensors.index.json");
        if (Files.isRegularFile(single)) {
            SafetensorsFile f = SafetensorsFile.open(single);
            f.entries().keySet().forEach(n -> out.put(n, f));
            return out;
        }
        if (Files.isRegularFile(index)) {
            JsonNode map = readJson(index).get("weight_map");
            if (map == null || !map.isObject()) {
                throw new DistilleryException(index + ": key weight_map is missing or not an object");
            }
            Map<String, SafetensorsFile> files = new HashMap<>();
            map.fields().forEachRemaining(e -> {
                String file = e.getValue().asText();
                if (file.contains("/") || file.contains("\\")) {
                    throw new DistilleryException(index + ": weight_map." + e.getKey() + " names a file outside the folder");
                }
                SafetensorsFile f = files.computeIfAbsent(file, n -> SafetensorsFile.open(dir.resolve(n)));
                if (!f.entries().containsKey(e.getKey())) {
                    throw new DistilleryException(f.file() + ": has no tensor " + e.getKey() + ", which " + index
                            + " places there");
                }
                out.put(e.getKey(), f);
            });
            return out;
        }
        String hint = Files.exists(dir.resolve("pytorch_model.bin"))
                ? " (pytorch_model.bin is not read: save the model with safe_serialization=True)" : "";
        throw new DistilleryException(dir + ": no model.safetensors or model.safetensors.index.json" + hint);
    }

    static JsonNode readJson(Path file) {
        try {
            JsonNode n = HfGpt2.JSON.readTree(file.toFile());
            if (n == null || !n.isObject()) {
                throw new DistilleryException(file + ": expected a JSON object");
            }
            return n;
        } catch (NoSuchFileException | java.io.FileNotFoundException e) {
            throw new DistilleryException(file + ": not found");
        } catch (com.fasterxml.jackson.core.JacksonException e) {
            throw new DistilleryException(file + ":" + e.getLocation().getLineNr() + ": not valid JSON: "
                    + e.getOriginalMessage());
        } catch (IOException e) {
            throw new DistilleryException(file + ": cannot read: " + e.getMessage(), e);
        }
    }
}
