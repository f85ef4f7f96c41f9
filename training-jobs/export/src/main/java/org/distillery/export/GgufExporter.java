package org.distillery.export;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.distillery.core.DistilleryException;
import org.distillery.core.io.AtomicDirectory;
import org.distillery.core.io.AtomicFile;
import org.distillery.core.tokenizer.BpeTokenizer;
import org.distillery.core.tokenizer.Gpt2VocabFiles;
import org.distillery.core.tokenizer.HfTokenizerJson;
import org.distillery.core.tokenizer.PreTokenizer;
import org.distillery.model.Checkpoint;
import org.distillery.model.GptConfig;
import org.distillery.model.GptParameters;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * A checkpoint as {@code model.gguf} in the layout llama.cpp loads, the one its convert_hf_to_gguf.py writes:
 * <ul>
 *   <li>GPT-2 as its {@code gpt2} architecture: {@code token_embd}, {@code position_embd},
 *       {@code blk.N.attn_norm / attn_qkv / attn_output / ffn_norm / ffn_up / ffn_down}, {@code output_norm}, no
 *       {@code output} (the head is tied to {@code token_embd});</li>
 *   <li>a Llama-family model as its {@code llama} architecture: {@code token_embd},
 *       {@code blk.N.attn_norm / attn_q / attn_k / attn_v / attn_output / ffn_norm / ffn_gate / ffn_up / ffn_down}
 *       (and the attention biases when the model has them), {@code output_norm}, and {@code output} unless the head
 *       is tied. The rows of q and k (weights and biases) are permuted within each head as the converter's
 *       {@code LlamaModel.permute} does: Hugging Face turns dims i and i + d/2 together (rotate-half), GGML's RoPE
 *       turns dims 2i and 2i + 1.</li>
 * </ul>
 * Linear weights are {@code [out, in]} matrices; in an f16 file the 2-D weights are f16 and norms and biases stay
 * f32, as llama.cpp's do. The tokenizer goes in the metadata ({@code tokenizer.ggml.*}, model {@code gpt2}, with
 * the pre-tokenizer llama.cpp knows by name); so does provenance.
 */
public final class GgufExporter {
    public static final String FILE = "model.gguf";

    private GgufExporter() {
    }

    /** {@link #export(Checkpoint, Path, ExportDtype, ExportProvenance, boolean)} in a float type. */
    public static void export(Checkpoint ck, Path dir, TensorType type, ExportProvenance provenance, boolean overwrite)
            throws IOException {
        export(ck, dir, ExportDtype.of(type), provenance, overwrite);
    }

    /**
     * Writes {@code dir/model.gguf}. Returns notes on what the dtype could not be applied to: a tensor whose rows are
     * no whole number of 32-value blocks is written in f16, as llama.cpp's quantizer does.
     */
    public static List<String> export(Checkpoint ck, Path dir, ExportDtype type, ExportProvenance provenance,
                                      boolean overwrite) throws IOException {
        GptConfig c = ck.header().model();
        GptParameters p = GptParameters.wrap(c, ck.section(Checkpoint.PARAMS));
        BpeTokenizer tok = HfTokenizerJson.parse(ck.header().tokenizer().json(), "checkpoint tokenizer");
        List<String> notes = new ArrayList<>();
        GgufWriter w = c.llama() != null ? llama(p, tok, type, notes) : gpt2(p, tok, type, notes);
        for (Map.Entry<String, String> e : provenance.asMetadata().entrySet()) {
            w.putString(e.getKey(), e.getValue());
        }
        AtomicDirectory.write(dir, overwrite, staging -> AtomicFile.writeChannel(staging.resolve(FILE), w::write));
        return notes;
    }

    /**
     * The weights as a GGUF of {@code type} holds them: each tensor it quantizes quantized and dequantized (blocks of
     * 32 along the rows llama.cpp multiplies by, the {@code in} side of a linear layer, the width of an embedding),
     * each tensor it writes in f16 rounded to f16, the rest as they are. Distillery's reference for what a runtime
     * computes from a quantized export.
     */
    public static GptParameters asStored(GptParameters p, ExportDtype type) {
        GptParameters out = p.copy();
        GptConfig c = p.config();
        List<String> ignored = new ArrayList<>();
        for (String name : p.names()) {
            long[] shape = p.shape(name);
            if (shape.length < 2) {
                continue;
            }
            boolean table = name.equals("wte.weight") || name.equals("wpe.weight") || name.equals("embed_tokens.weight")
                    || name.equals("lm_head.weight"); // rows are [C]; a linear layer's [in, out] is stored transposed
            String gguf = c.llama() == null ? ggufName(name) : table ? (name.equals("lm_head.weight") ? "output.weight"
                    : "token_embd.weight") : name;
            boolean head = c.llama() == null ? name.equals("wte.weight") : name.equals("lm_head.weight")
                    || name.equals("embed_tokens.weight") && c.llama().tieWordEmbeddings();
            long[] written = table ? shape : new long[] {shape[1], shape[0]};
            GgufWriter.GgmlType t = typeOf(gguf, written, type, head, ignored);
            INDArray w = out.get(name);
            INDArray rows = table ? w.dup('c') : w.transpose().dup('c');
            float[] v = rows.data().asFloat();
            if (t.blocks != null) { // the whole tensor quantized at once, as the writer does, then read back
                int[] bits = new int[v.length];
                for (int i = 0; i < v.length; i++) {
                    bits[i] = Float.floatToRawIntBits(v[i]);
                }
                byte[] quants = new byte[(int) t.blocks.bytes(v.length)];
                t.blocks.quantize(bits, 0, v.length, quants, 0);
                java.nio.ByteBuffer blocks = java.nio.ByteBuffer.wrap(quants).order(java.nio.ByteOrder.LITTLE_ENDIAN);
                for (int b = 0; b < v.length; b += t.blocks.values) {
                    t.blocks.dequantize(blocks, v, b);
                }
            } else if (t == GgufWriter.GgmlType.F16) {
                for (int i = 0; i < v.length; i++) {
                    v[i] = TensorType.fromHalf(TensorType.toHalf(v[i]));
                }
            } else {
                continue;
            }
            INDArray back = Nd4j.create(v, rows.shape(), 'c');
            w.assign(table ? back : back.transpose());
        }
        return out;
    }

    /** A writer with the {@code general.*} keys of an {@code arch} file of {@code type}. */
    private static GgufWriter header(String arch, ExportDtype type) {
        GgufWriter w = new GgufWriter();
        w.putString("general.architecture", arch);
        w.putString("general.name", "distillery-" + arch);
        w.putUInt32("general.quantization_version", 2);
        w.putUInt32("general.file_type", fileType(type));
        w.putUInt32("general.alignment", GgufWriter.ALIGNMENT);
        return w;
    }

    /** {@code general.file_type}: llama.cpp's {@code llama_ftype} of the dtype (ALL_F32, MOSTLY_F16, ...). */
    static long fileType(ExportDtype type) {
        return switch (type) {
            case FP32 -> 0;
            case FP16, BF16 -> 1;
            case Q4_0 -> 2;
            case Q8_0 -> 7;
            case Q6_K -> 18;
            case INT8 -> throw new IllegalArgumentException("int8 is ONNX's; GGUF's 8-bit type is q8_0");
        };
    }

    /**
     * The ggml type of a tensor as llama.cpp's quantizer chooses it ({@code llama_tensor_get_type} in {@code
     * llama-quant.cpp}): 1-D tensors (norms, biases) and position embeddings stay f32; every other matrix takes the
     * dtype's blocks, except the LM head (GPT-2's, and a tied Llama's, is the token embedding), which takes q6_k in a
     * q4_0 or q6_k file and q8_0 in a q8_0 one. A row that is no whole number of a k-quant's 256-value super-blocks
     * falls back to q8_0, and one that is no whole number of 32-value blocks to f16, as llama.cpp's quantizer does;
     * each fallback is noted in {@code notes}. {@code shape} is as written ({@code [out, in]}).
     */
    static GgufWriter.GgmlType typeOf(String gguf, long[] shape, ExportDtype type, boolean head, List<String> notes) {
        if (shape.length < 2) {
            return GgufWriter.GgmlType.F32;
        }
        if (type.blocks() == null) {
            return type.floats() == TensorType.F32 ? GgufWriter.GgmlType.F32 : GgufWriter.GgmlType.F16;
        }
        if (gguf.startsWith("position_embd")) { // llama.cpp's quantizer leaves it in the source's type
            return GgufWriter.GgmlType.F32;
        }
        GgufWriter.GgmlType want = type == ExportDtype.Q6_K || head && type == ExportDtype.Q4_0
                ? GgufWriter.GgmlType.Q6_K : type == ExportDtype.Q8_0 || head ? GgufWriter.GgmlType.Q8_0
                : GgufWriter.GgmlType.Q4_0;
        long row = shape[shape.length - 1];
        if (row % want.blocks.values == 0) {
            return want;
        }
        boolean toQ8 = want == GgufWriter.GgmlType.Q6_K && row % GgmlBlocks.QK == 0;
        if (!(toQ8 && type == ExportDtype.Q4_0)) { // a narrow q4_0 file's head in q8_0: higher precision, no loss
            notes.add(gguf + ": its rows of " + row + " values are no multiple of " + (toQ8 ? GgmlBlocks.QK_K + ", so it"
                    + " is written in q8_0" : GgmlBlocks.QK + ", so it is written in f16") + ", as llama.cpp's quantizer does");
        }
        return toQ8 ? GgufWriter.GgmlType.Q8_0 : GgufWriter.GgmlType.F16;
    }

    private static GgufWriter gpt2(GptParameters p, BpeTokenizer tok, ExportDtype type, List<String> notes) {
        GptConfig c = p.config();
        GgufWriter w = header("gpt2", type);
        w.putUInt32("gpt2.block_count", c.nLayer());
        w.putUInt32("gpt2.context_length", c.blockSize());
        w.putUInt32("gpt2.embedding_length", c.nEmbd());
        w.putUInt32("gpt2.feed_forward_length", 4L * c.nEmbd());
        w.putUInt32("gpt2.attention.head_count", c.nHead());
        w.putFloat32("gpt2.attention.layer_norm_epsilon", GptConfig.LN_EPS);
        putTokenizer(w, tok, c.vocabSize());
        for (GgufWriter.Tensor t : tensors(p, type, notes)) {
            w.addTensor(t);
        }
        return w;
    }

    private static GgufWriter llama(GptParameters p, BpeTokenizer tok, ExportDtype type, List<String> notes) {
        GptConfig c = p.config();
        GptConfig.Llama ll = c.llama();
        GgufWriter w = header("llama", type);
        w.putUInt32("llama.vocab_size", c.vocabSize());
        w.putUInt32("llama.block_count", c.nLayer());
        w.putUInt32("llama.context_length", c.blockSize());
        w.putUInt32("llama.embedding_length", c.nEmbd());
        w.putUInt32("llama.feed_forward_length", ll.intermediateSize());
        w.putUInt32("llama.attention.head_count", c.nHead());
        w.putUInt32("llama.attention.head_count_kv", ll.nKvHead());
        w.putUInt32("llama.rope.dimension_count", c.headSize());
        w.putFloat32("llama.rope.freq_base", (float) ll.ropeTheta());
        w.putFloat32("llama.attention.layer_norm_rms_epsilon", (float) ll.rmsNormEps());
        putTokenizer(w, tok, c.vocabSize());
        w.putBool("tokenizer.ggml.add_bos_token", false); // Distillery's models see no BOS
        for (NamedTensor t : HfLlama.tensors(p)) {
            String name = llamaName(t.name());
            INDArray values = t.values();
            if (name.contains(".attn_q.") || name.contains(".attn_k.")) {
                values = unrotateHalf(values, c.headSize());
            }
            long[] shape = t.shape();
            long[] dims = new long[shape.length];
            for (int i = 0; i < dims.length; i++) {
                dims[i] = shape[shape.length - 1 - i];
            }
            boolean head = name.equals("output.weight") || name.equals("token_embd.weight") && ll.tieWordEmbeddings();
            GgufWriter.GgmlType ggml = typeOf(name, shape, type, head, notes);
            w.addTensor(new GgufWriter.Tensor(name, dims, ggml, new NamedTensor(name, shape, values), false));
        }
        return w;
    }

    /** A Hugging Face Llama tensor name as llama.cpp's. */
    static String llamaName(String hf) {
        switch (hf) {
            case "model.embed_tokens.weight":
                return "token_embd.weight";
            case "model.norm.weight":
                return "output_norm.weight";
            case "lm_head.weight":
                return "output.weight";
            default:
                break;
        }
        String[] parts = hf.split("\\.", 4); // model, layers, N, rest
        String rest = parts[3];
        String kind = rest.substring(rest.lastIndexOf('.'));
        String mapped = switch (rest.substring(0, rest.lastIndexOf('.'))) {
            case "input_layernorm" -> "attn_norm";
            case "self_attn.q_proj" -> "attn_q";
            case "self_attn.k_proj" -> "attn_k";
            case "self_attn.v_proj" -> "attn_v";
            case "self_attn.o_proj" -> "attn_output";
            case "post_attention_layernorm" -> "ffn_norm";
            case "mlp.gate_proj" -> "ffn_gate";
            case "mlp.up_proj" -> "ffn_up";
            case "mlp.down_proj" -> "ffn_down";
            default -> throw new IllegalArgumentException("no GGUF name for " + hf);
        };
        return "blk." + parts[2] + "." + mapped + kind;
    }

    /**
     * The converter's {@code permute}: within each head of d rows (a weight's {@code [out, in]} rows, or a bias's
     * values), row {@code j * d/2 + i} moves to {@code 2i + j}, so GGML's adjacent-pair RoPE turns what Hugging
     * Face's rotate-half turns.
     */
    static INDArray unrotateHalf(INDArray rows, int d) {
        long n = rows.size(0);
        long width = rows.rank() == 1 ? 1 : rows.size(1);
        INDArray flat = rows.reshape('c', n, width);
        INDArray out = Nd4j.createUninitialized(DataType.FLOAT, n, width);
        int half = d / 2;
        for (long h = 0; h < n / d; h++) {
            for (int j = 0; j < 2; j++) {
                for (int i = 0; i < half; i++) {
                    out.getRow(h * d + 2L * i + j).assign(flat.getRow(h * d + (long) j * half + i));
                }
            }
        }
        return out.reshape(rows.shape());
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
        w.putString("tokenizer.ggml.pre", preTokenizer(tok));
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

    /** llama.cpp's pre-tokenizers by the regex they implement: the name a GGUF file gives to choose one. */
    private static final Map<String, String> PRE_TOKENIZERS = Map.of(
            "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+"
                    + "|\\s+(?!\\S)|\\s+", "llama-bpe",
            "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+"
                    + "|\\s+(?!\\S)|\\s+", "qwen2");

    /** The {@code tokenizer.ggml.pre} llama.cpp splits text with as the tokenizer does; an error if it has none. */
    static String preTokenizer(BpeTokenizer tok) {
        PreTokenizer pre = tok.options().preTokenizer();
        if (pre == PreTokenizer.GPT2) {
            return "gpt-2";
        }
        String regex = ((PreTokenizer.Regex) pre).regex();
        String name = PRE_TOKENIZERS.get(regex);
        if (name == null) {
            throw new DistilleryException("the tokenizer's pre_tokenizer splits with the regex " + regex + ", which"
                    + " llama.cpp has no pre-tokenizer for (it knows GPT-2's, Llama 3's and Qwen2's): GGUF export"
                    + " would tokenize text differently");
        }
        return name;
    }

    /** GGUF tensors in llama.cpp's names; Conv1D [in, out] weights become [out, in] (GGUF dims: in, out). */
    static List<GgufWriter.Tensor> tensors(GptParameters p, ExportDtype type, List<String> notes) {
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
            GgufWriter.GgmlType t = typeOf(gguf, numpyShape, type, gguf.equals("token_embd.weight"), notes);
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
