package org.distillery.export;

import java.io.IOException;
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
 * A checkpoint as {@code model.gguf} in the layout llama.cpp's {@code gpt2} architecture loads, the
 * one its convert_hf_to_gguf.py writes for GPT2LMHeadModel: {@code token_embd}, {@code position_embd},
 * {@code blk.N.attn_norm / attn_qkv / attn_output / ffn_norm / ffn_up / ffn_down}, {@code output_norm},
 * no {@code output} (the head is tied to {@code token_embd}); linear weights as {@code [out, in]}
 * matrices; in an f16 file the 2-D weights are f16 and norms and biases stay f32, as llama.cpp's do.
 * The tokenizer goes in the metadata ({@code tokenizer.ggml.*}, model {@code gpt2}); so does provenance.
 */
public final class GgufExporter {
    public static final String FILE = "model.gguf";

    private GgufExporter() {
    }

    public static void export(Checkpoint ck, Path dir, TensorType type, ExportProvenance provenance, boolean overwrite)
            throws IOException {
        GptConfig c = ck.header().model();
        GptParameters p = GptParameters.wrap(c, ck.section(Checkpoint.PARAMS));
        BpeTokenizer tok = HfTokenizerJson.parse(ck.header().tokenizer().json(), "checkpoint tokenizer");
        GgufWriter w = new GgufWriter();
        w.putString("general.architecture", "gpt2");
        w.putString("general.name", "distillery-gpt2");
        w.putUInt32("general.quantization_version", 2);
        w.putUInt32("general.file_type", type == TensorType.F16 ? 1 : 0); // MOSTLY_F16 or ALL_F32
        w.putUInt32("general.alignment", GgufWriter.ALIGNMENT);
        w.putUInt32("gpt2.block_count", c.nLayer());
        w.putUInt32("gpt2.context_length", c.blockSize());
        w.putUInt32("gpt2.embedding_length", c.nEmbd());
        w.putUInt32("gpt2.feed_forward_length", 4L * c.nEmbd());
        w.putUInt32("gpt2.attention.head_count", c.nHead());
        w.putFloat32("gpt2.attention.layer_norm_epsilon", GptConfig.LN_EPS);
        putTokenizer(w, tok, c.vocabSize());
        for (Map.Entry<String, String> e : provenance.asMetadata().entrySet()) {
            w.putString(e.getKey(), e.getValue());
        }
        for (GgufWriter.Tensor t : tensors(p, type)) {
            w.addTensor(t);
        }
        AtomicDirectory.write(dir, overwrite, staging -> AtomicFile.writeChannel(staging.resolve(FILE), w::write));
    }

    /** The tokenizer as llama.cpp's BPE ("gpt2") vocabulary: tokens by id, their types, merges, special ids. */
    private static void putTokenizer(GgufWriter w, BpeTokenizer tok, int vocabSize) {
        List<String> tokens = new ArrayList<>(vocabSize);
        int[] types = new int[vocabSize];
        for (int id = 0; id < vocabSize; id++) {
            String t = id < tok.vocabSize() ? tok.tokenOf(id) : "[PAD" + id + "]";
            tokens.add(t);
            boolean special = id >= tok.vocabSize() || tok.specialTokens().contains(t);
            types[id] = special ? 3 : 1; // CONTROL or NORMAL, llama.cpp's token types
        }
        List<String> merges = new ArrayList<>();
        for (BpeTokenizer.Merge m : tok.merges()) {
            merges.add(m.left() + " " + m.right());
        }
        w.putString("tokenizer.ggml.model", "gpt2");
        w.putString("tokenizer.ggml.pre", "gpt-2");
        w.putStrings("tokenizer.ggml.tokens", tokens);
        w.putInt32s("tokenizer.ggml.token_type", types);
        w.putStrings("tokenizer.ggml.merges", merges);
        int eot = tok.vocab().getOrDefault(Gpt2VocabFiles.END_OF_TEXT, -1);
        if (eot >= 0) {
            w.putUInt32("tokenizer.ggml.bos_token_id", eot);
            w.putUInt32("tokenizer.ggml.eos_token_id", eot);
            w.putUInt32("tokenizer.ggml.unknown_token_id", eot);
        }
    }

    /** GGUF tensors in llama.cpp's names; Conv1D [in, out] weights become [out, in] (GGUF dims: in, out). */
    static List<GgufWriter.Tensor> tensors(GptParameters p, TensorType type) {
        List<GgufWriter.Tensor> out = new ArrayList<>();
        for (String name : p.names()) {
            long[] shape = p.shape(name);
            String gguf = ggufName(name);
            boolean linear = shape.length == 2 && name.startsWith("h.");
            // numpy shape as llama.cpp's converter writes it: linear weights as [out, in]
            long[] numpyShape = linear ? new long[] {shape[1], shape[0]} : shape;
            long[] dims = new long[numpyShape.length];
            for (int i = 0; i < dims.length; i++) {
                dims[i] = numpyShape[numpyShape.length - 1 - i];
            }
            GgufWriter.GgmlType t = type == TensorType.F16 && numpyShape.length == 2
                    ? GgufWriter.GgmlType.F16 : GgufWriter.GgmlType.F32;
            out.add(new GgufWriter.Tensor(gguf, dims, t, new NamedTensor(gguf, shape, p.get(name)), linear));
        }
        return out;
    }

    static String ggufName(String name) {
        if (name.equals("wte.weight")) {
            return "token_embd.weight";
        }
        if (name.equals("wpe.weight")) {
            return "position_embd.weight";
        }
        if (name.startsWith("ln_f.")) {
            return "output_norm." + name.substring("ln_f.".length());
        }
        String[] parts = name.split("\\.", 3); // h, N, rest
        String rest = parts[2];
        String mapped = switch (rest.substring(0, rest.lastIndexOf('.'))) {
            case "ln_1" -> "attn_norm";
            case "attn.c_attn" -> "attn_qkv";
            case "attn.c_proj" -> "attn_output";
            case "ln_2" -> "ffn_norm";
            case "mlp.c_fc" -> "ffn_up";
            case "mlp.c_proj" -> "ffn_down";
            default -> throw new IllegalArgumentException("no GGUF name for " + name);
        };
        return "blk." + parts[1] + "." + mapped + rest.substring(rest.lastIndexOf('.'));
    }
}
