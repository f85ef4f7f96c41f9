package org.distillery.export;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.distillery.core.io.AtomicDirectory;
import org.distillery.core.io.AtomicFile;
import org.distillery.core.tokenizer.BpeTokenizer;
import org.distillery.core.tokenizer.Gpt2VocabFiles;
import org.distillery.core.tokenizer.HfTokenizerJson;
import org.distillery.model.Checkpoint;
import org.distillery.model.GptConfig;
import org.distillery.model.GptParameters;

/**
 * A checkpoint as a Hugging Face model folder that {@code AutoModelForCausalLM.from_pretrained} and
 * {@code AutoTokenizer.from_pretrained} load as they are: {@code model.safetensors} ({@code GPT2LMHeadModel}'s
 * or {@code LlamaForCausalLM}'s names and layouts, provenance in its metadata), {@code config.json},
 * {@code generation_config.json}, the tokenizer as {@code tokenizer.json} (the checkpoint's own, byte for byte)
 * and, when it splits text as GPT-2 does, as GPT-2's {@code vocab.json} + {@code merges.txt},
 * {@code tokenizer_config.json} and {@code special_tokens_map.json}. The folder appears under its name only when
 * complete.
 */
public final class HfExporter {
    private HfExporter() {
    }

    /** The tensors of {@code params} under Hugging Face's names (GPT-2's in Distillery's buffer order). */
    public static List<NamedTensor> tensors(GptParameters params) {
        if (params.config().llama() != null) {
            return HfLlama.tensors(params);
        }
        List<NamedTensor> out = new ArrayList<>();
        for (String name : params.names()) {
            out.add(new NamedTensor(HfGpt2.PREFIX + name, params.shape(name), params.get(name)));
        }
        return out;
    }

    public static void export(Checkpoint ck, Path dir, TensorType type, ExportProvenance provenance, boolean overwrite)
            throws IOException {
        GptConfig c = ck.header().model();
        GptParameters params = GptParameters.wrap(c, ck.section(Checkpoint.PARAMS));
        String tokenizerJson = ck.header().tokenizer().json();
        BpeTokenizer tokenizer = HfTokenizerJson.parse(tokenizerJson, dir + "/tokenizer.json");
        int eot = tokenizer.vocab().getOrDefault(Gpt2VocabFiles.END_OF_TEXT, -1);
        Map<String, String> meta = provenance.asMetadata();
        AtomicDirectory.write(dir, overwrite, staging -> {
            List<NamedTensor> tensors = tensors(params);
            Map<String, String> st = new java.util.LinkedHashMap<>();
            st.put("format", "pt"); // what transformers expects of a PyTorch model's safetensors
            st.putAll(meta);
            AtomicFile.writeChannel(staging.resolve("model.safetensors"), out -> SafetensorsWriter.write(out, tensors, type, st));
            writeJson(staging.resolve("config.json"), c.llama() != null ? HfLlama.config(c, eot, type, meta)
                    : HfGpt2.config(c, eot, type, meta));
            ObjectNode gen = HfGpt2.JSON.createObjectNode();
            gen.put("_from_model_config", true);
            if (eot >= 0) {
                gen.put("bos_token_id", eot);
                gen.put("eos_token_id", eot);
            }
            writeJson(staging.resolve("generation_config.json"), gen);
            AtomicFile.write(staging.resolve("tokenizer.json"), tokenizerJson.getBytes(StandardCharsets.UTF_8));
            // GPT2Tokenizer's files split text with GPT-2's regex: another pre-tokenizer loads from tokenizer.json alone
            boolean gpt2Split = tokenizer.options().equals(BpeTokenizer.Options.GPT2);
            if (gpt2Split) {
                Gpt2VocabFiles.write(tokenizer, staging.resolve("vocab.json"), staging.resolve("merges.txt"));
            }
            ObjectNode tc = HfGpt2.JSON.createObjectNode();
            tc.put("tokenizer_class", gpt2Split ? "GPT2Tokenizer" : "PreTrainedTokenizerFast");
            tc.put("model_max_length", c.blockSize());
            tc.put("add_prefix_space", false);
            tc.put("clean_up_tokenization_spaces", false);
            ObjectNode specials = HfGpt2.JSON.createObjectNode();
            if (eot >= 0) {
                for (String k : List.of("bos_token", "eos_token", "unk_token")) {
                    tc.put(k, Gpt2VocabFiles.END_OF_TEXT);
                    specials.put(k, Gpt2VocabFiles.END_OF_TEXT);
                }
            }
            writeJson(staging.resolve("tokenizer_config.json"), tc);
            writeJson(staging.resolve("special_tokens_map.json"), specials);
        });
    }

    static void writeJson(Path file, ObjectNode node) throws IOException {
        AtomicFile.write(file, HfGpt2.JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(node));
    }
}
