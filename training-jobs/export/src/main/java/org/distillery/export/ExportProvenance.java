package org.distillery.export;

import java.util.LinkedHashMap;
import java.util.Map;
import org.distillery.model.Checkpoint;
import org.distillery.model.GptConfig;

/**
 * Where an export comes from, carried inside every format (safetensors {@code __metadata__}, ONNX
 * {@code metadata_props}, GGUF {@code distillery.*} keys) as flat string pairs under
 * {@code distillery.}: the run, the data and tokenizer it was trained on, the model config and the
 * Distillery version that wrote the file.
 */
public record ExportProvenance(String runId, String datasetManifestSha256, String tokenizerSha256, GptConfig model,
                               long step, String checkpointFile, String distilleryVersion, String dtype) {
    public static final String PREFIX = "distillery.";

    public static ExportProvenance of(Checkpoint.Header h, String checkpointFile, String distilleryVersion) {
        return new ExportProvenance(h.runId(), h.data() == null ? null : h.data().manifestSha256(),
                h.tokenizer() == null ? null : h.tokenizer().sha256(), h.model(), h.step(), checkpointFile,
                distilleryVersion, null);
    }

    /** The same provenance for a file whose weights are {@code d} ({@code distillery.dtype}). */
    public ExportProvenance withDtype(ExportDtype d) {
        return new ExportProvenance(runId, datasetManifestSha256, tokenizerSha256, model, step, checkpointFile,
                distilleryVersion, d.optionName());
    }

    /** The string pairs every format stores (absent values are left out). */
    public Map<String, String> asMetadata() {
        Map<String, String> m = new LinkedHashMap<>();
        m.put(PREFIX + "format", "distillery.export/1");
        put(m, "version", distilleryVersion);
        put(m, "run_id", runId);
        put(m, "dataset_manifest_sha256", datasetManifestSha256);
        put(m, "tokenizer_sha256", tokenizerSha256);
        put(m, "checkpoint", checkpointFile);
        put(m, "dtype", dtype);
        m.put(PREFIX + "step", String.valueOf(step));
        m.put(PREFIX + "model.arch", model.arch());
        m.put(PREFIX + "model.n_layer", String.valueOf(model.nLayer()));
        m.put(PREFIX + "model.n_head", String.valueOf(model.nHead()));
        m.put(PREFIX + "model.n_embd", String.valueOf(model.nEmbd()));
        m.put(PREFIX + "model.block_size", String.valueOf(model.blockSize()));
        m.put(PREFIX + "model.vocab_size", String.valueOf(model.vocabSize()));
        m.put(PREFIX + "model.dropout", String.valueOf(model.dropout()));
        if (model.llama() != null) {
            m.put(PREFIX + "model.n_kv_head", String.valueOf(model.llama().nKvHead()));
            m.put(PREFIX + "model.intermediate_size", String.valueOf(model.llama().intermediateSize()));
            m.put(PREFIX + "model.rope_theta", String.valueOf(model.llama().ropeTheta()));
            m.put(PREFIX + "model.rms_norm_eps", String.valueOf(model.llama().rmsNormEps()));
            m.put(PREFIX + "model.tie_word_embeddings", String.valueOf(model.llama().tieWordEmbeddings()));
            m.put(PREFIX + "model.attention_bias", String.valueOf(model.llama().attentionBias()));
        }
        return m;
    }

    /**
     * The model an export's {@code distillery.model.*} pairs describe, or null when they are not all there (a file
     * Distillery did not write). Files from before the tying and bias keys read with the family's defaults.
     */
    public static GptConfig model(Map<String, String> metadata) {
        try {
            int[] shape = new int[5];
            String[] keys = {"n_layer", "n_head", "n_embd", "block_size", "vocab_size"};
            for (int i = 0; i < keys.length; i++) {
                String v = metadata.get(PREFIX + "model." + keys[i]);
                if (v == null) {
                    return null;
                }
                shape[i] = Integer.parseInt(v);
            }
            double dropout = Double.parseDouble(metadata.getOrDefault(PREFIX + "model.dropout", "0"));
            GptConfig.Llama llama = null;
            if (GptConfig.LLAMA.equals(metadata.get(PREFIX + "model.arch"))) {
                llama = new GptConfig.Llama(Integer.parseInt(metadata.get(PREFIX + "model.n_kv_head")),
                        Integer.parseInt(metadata.get(PREFIX + "model.intermediate_size")),
                        Double.parseDouble(metadata.get(PREFIX + "model.rope_theta")),
                        Double.parseDouble(metadata.getOrDefault(PREFIX + "model.rms_norm_eps", "1e-5")),
                        Boolean.parseBoolean(metadata.getOrDefault(PREFIX + "model.tie_word_embeddings", "false")),
                        Boolean.parseBoolean(metadata.getOrDefault(PREFIX + "model.attention_bias", "false")));
            }
            return new GptConfig(shape[0], shape[1], shape[2], shape[3], shape[4], dropout, llama);
        } catch (RuntimeException e) { // a number that is not one, a Llama key missing: not Distillery's pairs
            return null;
        }
    }

    private static void put(Map<String, String> m, String key, String value) {
        if (value != null) {
            m.put(PREFIX + key, value);
        }
    }
}
