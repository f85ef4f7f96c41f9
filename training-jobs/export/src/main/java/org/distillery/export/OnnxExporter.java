package org.distillery.export;

import ai.onnx.proto.OnnxMl;
import com.google.protobuf.ByteString;
import com.google.protobuf.CodedOutputStream;
import com.google.protobuf.WireFormat;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.WritableByteChannel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.distillery.core.DistilleryException;
import org.distillery.core.io.AtomicDirectory;
import org.distillery.core.io.AtomicFile;
import org.distillery.model.Checkpoint;
import org.distillery.model.GptConfig;
import org.distillery.model.GptParameters;
import org.distillery.model.RotaryTables;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * A checkpoint as {@code model.onnx}: {@code input_ids} (int64, dynamic batch and sequence) to
 * {@code logits} (float32 {@code [batch, sequence, vocab]}), opset 20, built with the ONNX protobuf
 * classes generated from the official onnx.proto. The graph is the model written out in standard ops:
 * Gather embeddings, MatMul (+ Add), Split / Reshape / Transpose into heads, a causal mask sliced from a
 * [block, block] constant to the sequence length, Softmax, and the LM head as a MatMul with the transposed
 * token embedding (stored once) or head. GPT-2 adds position embeddings, LayerNormalization and Gelu (tanh).
 * A Llama model has RMSNorm from elementary ops (opset 20 has no RMSNormalization), RoPE as
 * {@code x cos + rotate_half(x) sin} with cos/sin tables gathered at the positions, key/value heads repeated to
 * the query heads with Expand, and the SiLU-gated MLP as Sigmoid and Mul. Provenance goes to
 * {@code metadata_props}. With {@code int8}, the linear layers multiply in int8 ({@link Graph#linear}) and the
 * vocabulary tables are stored in int8 ({@link #isLinear} says what and why).
 */
public final class OnnxExporter {
    public static final String FILE = "model.onnx";
    public static final int OPSET = 20;
    /** Protobuf messages cannot exceed 2 GB; larger models would need ONNX external data. */
    private static final long MAX_BYTES = (2L << 30) - (64L << 20);
    /**
     * int8 weights use 7 bits ({@code quantize_dynamic}'s {@code reduce_range}): ONNX Runtime's x86 u8s8 kernels add
     * pairs of uint8 × int8 products in int16 (vpmaddubsw), which saturates when weights span the full range. On the
     * demo's Llama teacher (64 validation windows), per-channel weights at ±127 lost 2.5e-3 nats of held-out loss
     * against fp32, and at ±63 only 5.0e-4; {@code quantize_dynamic}'s defaults lost 2.4e-3, with reduce_range 2.0e-3.
     */
    static final int INT8_WEIGHT_MAX = 63;

    private OnnxExporter() {
    }

    public static void export(Checkpoint ck, Path dir, boolean int8, ExportProvenance provenance, boolean overwrite)
            throws IOException {
        Model model = model(ck, int8, provenance);
        AtomicDirectory.write(dir, overwrite, staging -> AtomicFile.writeChannel(staging.resolve(FILE), model::writeTo));
    }

    /**
     * The model as a {@code ModelProto} whose graph lacks the weight initializers, and those weights,
     * which {@link #writeTo} streams into the graph's bytes: protobuf repeated fields may come in any
     * order and a message's fields may be split, so the file parses as one whole ModelProto while the
     * weights never sit in the heap as protobuf byte strings.
     */
    record Model(OnnxMl.ModelProto withoutWeights, List<Weight> weights) {
        /**
         * An initializer: its TensorProto without raw_data, and the values streamed as raw_data: float32
         * {@code values}, or {@code raw} bytes already encoded (int8 weights).
         */
        record Weight(OnnxMl.TensorProto header, INDArray values, byte[] raw) {
            long rawBytes() {
                return raw != null ? raw.length : values.length() * 4;
            }

            /** The TensorProto's size once raw_data (field 9) is added. */
            long size() {
                return header.getSerializedSize() + CodedOutputStream.computeTagSize(RAW_DATA) + varintSize(rawBytes())
                        + rawBytes();
            }
        }

        private static final int GRAPH = 7; // ModelProto.graph
        private static final int INITIALIZER = 5; // GraphProto.initializer
        private static final int RAW_DATA = 9; // TensorProto.raw_data

        void writeTo(WritableByteChannel ch) throws IOException {
            OnnxMl.GraphProto graph = withoutWeights.getGraph();
            long graphSize = graph.getSerializedSize();
            for (Weight w : weights) {
                graphSize += CodedOutputStream.computeTagSize(INITIALIZER) + varintSize(w.size()) + w.size();
            }
            try (TensorEncoder encoder = new TensorEncoder(ch)) {
                ByteString.Output head = ByteString.newOutput();
                CodedOutputStream out = CodedOutputStream.newInstance(head);
                withoutWeights.toBuilder().clearGraph().build().writeTo(out);
                out.writeTag(GRAPH, WireFormat.WIRETYPE_LENGTH_DELIMITED);
                out.writeUInt64NoTag(graphSize);
                graph.writeTo(out);
                out.flush();
                encoder.write(head.toByteString().asReadOnlyByteBuffer());
                for (Weight w : weights) {
                    byte[] framing = new byte[(int) (w.size() - w.rawBytes()) + 16];
                    CodedOutputStream f = CodedOutputStream.newInstance(framing);
                    f.writeTag(INITIALIZER, WireFormat.WIRETYPE_LENGTH_DELIMITED);
                    f.writeUInt64NoTag(w.size());
                    w.header().writeTo(f);
                    f.writeTag(RAW_DATA, WireFormat.WIRETYPE_LENGTH_DELIMITED);
                    f.writeUInt64NoTag(w.rawBytes());
                    encoder.write(ByteBuffer.wrap(framing, 0, framing.length - f.spaceLeft()));
                    if (w.raw() != null) {
                        encoder.write(ByteBuffer.wrap(w.raw()));
                    } else {
                        encoder.write(w.values(), TensorType.F32);
                    }
                }
            }
        }

        private static int varintSize(long v) {
            return CodedOutputStream.computeUInt64SizeNoTag(v);
        }
    }

    static Model model(Checkpoint ck, boolean int8, ExportProvenance provenance) throws IOException {
        GptConfig c = ck.header().model();
        if (c.parameterCount() * 4 > MAX_BYTES) {
            throw new DistilleryException("the model has " + c.parameterCount() + " parameters: over ONNX's 2 GB limit"
                    + " for one file (external data is not written yet); export hf or gguf instead");
        }
        GptParameters p = GptParameters.wrap(c, ck.section(Checkpoint.PARAMS));
        Graph g = new Graph();
        String embedding = c.llama() != null ? "embed_tokens.weight" : "wte.weight";
        String head = c.llama() != null && !c.llama().tieWordEmbeddings() ? "lm_head.weight" : embedding;
        for (String name : p.names()) {
            if (int8 && isLinear(name)) {
                g.int8Weight(name, p.get(name), p.shape(name), 1, INT8_WEIGHT_MAX);
            } else if (int8 && (name.equals(embedding) || name.equals(head))) { // a scale per row, all 8 bits
                g.int8Weight(name, p.get(name), p.shape(name), 0, 127);
            } else {
                g.initializer(name, p.get(name), p.shape(name));
            }
        }
        int heads = c.nHead();
        int d = c.headSize();
        long e = c.nEmbd();
        // Positions 0..T-1 and the causal mask [T, T], T taken from input_ids at run time.
        String shape = g.node("Shape", List.of("input_ids"), "shape");
        String t = g.node("Gather", List.of(shape, g.ints("one", new long[] {1}, true)), "seq_len", attrInt("axis", 0));
        String positions = g.node("Range", List.of(g.ints("zero", new long[] {0}, true), t,
                g.ints("one_step", new long[] {1}, true)), "positions");
        String t1 = g.node("Unsqueeze", List.of(t, g.ints("axis0", new long[] {0}, false)), "seq_len_1d");
        String tt = g.node("Concat", List.of(t1, t1), "mask_end", attrInt("axis", 0));
        g.causalMask("mask_full", c.blockSize());
        String mask = g.node("Slice", List.of("mask_full", g.ints("mask_start", new long[] {0, 0}, false), tt), "mask");
        if (c.llama() != null) {
            llama(g, p, positions, mask);
            return model(g, c, provenance, "distillery_llama", "Llama");
        }
        String scale = g.scalar("scale", (float) (1.0 / Math.sqrt(d)));
        String tok = g.lookup("wte.weight", "input_ids", "tok_emb");
        String pos = g.node("Gather", List.of("wpe.weight", positions), "pos_emb");
        String x = g.node("Add", List.of(tok, pos), "x_0");
        String headsShape = g.ints("heads_shape", new long[] {0, 0, heads, d}, false);
        String mergedShape = g.ints("merged_shape", new long[] {0, 0, e}, false);
        String split = g.ints("qkv_split", new long[] {e, e, e}, false);
        for (int l = 0; l < c.nLayer(); l++) {
            String h = "h." + l + ".";
            String ln1 = layerNorm(g, x, h + "ln_1", h + "ln1_out");
            String qkv = g.node("Add", List.of(g.linear(ln1, h + "attn.c_attn.weight", h + "qkv_mm"),
                    h + "attn.c_attn.bias"), h + "qkv");
            List<String> parts = g.nodeMulti("Split", List.of(qkv, split), List.of(h + "q", h + "k", h + "v"),
                    attrInt("axis", -1));
            String q = g.node("Transpose", List.of(g.node("Reshape", List.of(parts.get(0), headsShape), h + "q_h")),
                    h + "q_t", attrInts("perm", 0, 2, 1, 3));
            String kT = g.node("Transpose", List.of(g.node("Reshape", List.of(parts.get(1), headsShape), h + "k_h")),
                    h + "k_t", attrInts("perm", 0, 2, 3, 1));
            String v = g.node("Transpose", List.of(g.node("Reshape", List.of(parts.get(2), headsShape), h + "v_h")),
                    h + "v_t", attrInts("perm", 0, 2, 1, 3));
            String scores = g.node("Add", List.of(g.node("Mul", List.of(g.node("MatMul", List.of(q, kT), h + "qk"), scale),
                    h + "qk_scaled"), mask), h + "scores");
            String probs = g.node("Softmax", List.of(scores), h + "probs", attrInt("axis", -1));
            String y = g.node("Reshape", List.of(g.node("Transpose", List.of(g.node("MatMul", List.of(probs, v),
                    h + "att_v")), h + "att_t", attrInts("perm", 0, 2, 1, 3)), mergedShape), h + "att_merged");
            String proj = g.node("Add", List.of(g.linear(y, h + "attn.c_proj.weight", h + "proj_mm"),
                    h + "attn.c_proj.bias"), h + "proj");
            x = g.node("Add", List.of(x, proj), h + "x_attn");
            String ln2 = layerNorm(g, x, h + "ln_2", h + "ln2_out");
            String fc = g.node("Add", List.of(g.linear(ln2, h + "mlp.c_fc.weight", h + "fc_mm"),
                    h + "mlp.c_fc.bias"), h + "fc");
            String gelu = g.node("Gelu", List.of(fc), h + "gelu", attrString("approximate", "tanh"));
            String mlp = g.node("Add", List.of(g.linear(gelu, h + "mlp.c_proj.weight", h + "mlp_mm"),
                    h + "mlp.c_proj.bias"), h + "mlp");
            x = g.node("Add", List.of(x, mlp), "x_" + (l + 1));
        }
        String xf = layerNorm(g, x, "ln_f", "ln_f_out");
        g.head(xf, "wte.weight", "logits");
        return model(g, c, provenance, "distillery_gpt2", "GPT-2");
    }

    /**
     * The weights an int8 export multiplies in int8: every block's linear layers, as ONNX Runtime's
     * {@code quantize_dynamic} does (each MatMul whose second input is an initializer). The vocabulary tables (the
     * token embedding, an untied head) are stored in int8 with a scale per row, where {@code quantize_dynamic} has
     * uint8 with one scale per table. Lookups read the int8 rows. The head multiplies float activations by the
     * dequantized table, as {@code quantize_dynamic} does for a tied table, so one copy is held.
     * Position embeddings, norms, biases and RoPE's tables stay float32. On the demo's Llama teacher (64 validation
     * windows) this loses 5.0e-4 nats of held-out loss against fp32 in 1.9 MB; {@code quantize_dynamic} loses 2.4e-3
     * in 3.5 MB. A head over int8 activations (MatMulInteger) lost 1.9e-3, and on the tests' small models more than
     * {@code quantize_dynamic}'s float one.
     */
    private static boolean isLinear(String name) {
        return name.endsWith(".weight") && (name.contains(".attn.c_") || name.contains(".mlp.c_")
                || name.contains("_proj.weight"));
    }

    /** The finished graph as a model: its input and output, opset, description and provenance. */
    private static Model model(Graph g, GptConfig c, ExportProvenance provenance, String name, String arch) {
        String heads = c.kvHeads() == c.nHead() ? c.nHead() + " heads" : c.nHead() + " heads over " + c.kvHeads()
                + " key/value heads";
        OnnxMl.GraphProto.Builder graph = g.graph.setName(name)
                .addInput(valueInfo("input_ids", OnnxMl.TensorProto.DataType.INT64_VALUE, "batch", "sequence"))
                .addOutput(valueInfo("logits", OnnxMl.TensorProto.DataType.FLOAT_VALUE, "batch", "sequence",
                        String.valueOf(c.vocabSize())));
        OnnxMl.ModelProto.Builder m = OnnxMl.ModelProto.newBuilder()
                .setIrVersion(9)
                .setProducerName("distillery")
                .setProducerVersion(provenance.distilleryVersion() == null ? "dev" : provenance.distilleryVersion())
                .setDomain("org.distillery")
                .setModelVersion(Math.max(1, provenance.step()))
                .setDocString(arch + " (" + c.nLayer() + " layers, " + heads + ", " + c.nEmbd() + " wide, block "
                        + c.blockSize() + ", vocab " + c.vocabSize() + "): input_ids [batch, sequence] int64 -> logits"
                        + " [batch, sequence, vocab] float32; sequence at most " + c.blockSize())
                .addOpsetImport(OnnxMl.OperatorSetIdProto.newBuilder().setDomain("").setVersion(OPSET))
                .setGraph(graph);
        for (Map.Entry<String, String> kv : provenance.asMetadata().entrySet()) {
            m.addMetadataProps(OnnxMl.StringStringEntryProto.newBuilder().setKey(kv.getKey()).setValue(kv.getValue()));
        }
        return new Model(m.build(), List.copyOf(g.weights));
    }

    /** A Llama model's blocks and head, from the token embeddings to {@code logits}. */
    private static void llama(Graph g, GptParameters p, String positions, String mask) {
        GptConfig c = p.config();
        GptConfig.Llama ll = c.llama();
        int heads = c.nHead();
        int kv = ll.nKvHead();
        int d = c.headSize();
        long e = c.nEmbd();
        long inter = ll.intermediateSize();
        // cos and sin [block, d] (each half repeated, for rotate-half), gathered at the positions: [T, d]
        RotaryTables rope = RotaryTables.of(c.blockSize(), d, ll.ropeTheta());
        g.initializer("rope_cos", Nd4j.concat(1, rope.cos(), rope.cos()), new long[] {c.blockSize(), d});
        g.initializer("rope_sin", Nd4j.concat(1, rope.sin(), rope.sin()), new long[] {c.blockSize(), d});
        String cos = g.node("Gather", List.of("rope_cos", positions), "cos");
        String sin = g.node("Gather", List.of("rope_sin", positions), "sin");
        String scale = g.scalar("scale", (float) (1.0 / Math.sqrt(d)));
        String eps = g.scalar("rms_eps", (float) ll.rmsNormEps());
        g.ints("last_axis", new long[] {-1}, false);
        String qShape = g.ints("q_shape", new long[] {0, 0, heads, d}, false);
        String kvShape = g.ints("kv_shape", new long[] {0, 0, kv, d}, false);
        String mergedShape = g.ints("merged_shape", new long[] {0, 0, e}, false);
        String split = g.ints("qkv_split", new long[] {e, (long) kv * d, (long) kv * d}, false);
        String halves = g.ints("rope_halves", new long[] {d / 2, d / 2}, false);
        String mlpSplit = g.ints("gate_up_split", new long[] {inter, inter}, false);
        // constants only multi-query and grouped-query attention use (an unused initializer is a runtime warning)
        boolean grouped = kv != heads;
        String group = grouped ? g.ints("kv_group", new long[] {1, 1, heads / kv, 1, 1}, false) : null;
        String groupAxis = grouped ? g.ints("kv_group_axis", new long[] {2}, false) : null;
        String repeatedShape = grouped ? g.ints("kv_repeated_shape", new long[] {0, heads, -1, d}, false) : null;
        String x = g.lookup("embed_tokens.weight", "input_ids", "x_0");
        for (int l = 0; l < c.nLayer(); l++) {
            String h = "layers." + l + ".";
            String h1 = rmsNorm(g, x, h + "input_layernorm.weight", eps, h + "rms1");
            String qkv = g.linear(h1, h + "self_attn.qkv_proj.weight", h + "qkv_mm");
            if (p.hasLayer(l, "self_attn.qkv_proj.bias")) {
                qkv = g.node("Add", List.of(qkv, h + "self_attn.qkv_proj.bias"), h + "qkv");
            }
            List<String> parts = g.nodeMulti("Split", List.of(qkv, split), List.of(h + "q", h + "k", h + "v"),
                    attrInt("axis", -1));
            String q = rotate(g, g.node("Transpose", List.of(g.node("Reshape", List.of(parts.get(0), qShape), h + "q_h")),
                    h + "q_t", attrInts("perm", 0, 2, 1, 3)), cos, sin, halves, h + "q");
            String k = rotate(g, g.node("Transpose", List.of(g.node("Reshape", List.of(parts.get(1), kvShape), h + "k_h")),
                    h + "k_t", attrInts("perm", 0, 2, 1, 3)), cos, sin, halves, h + "k");
            String v = g.node("Transpose", List.of(g.node("Reshape", List.of(parts.get(2), kvShape), h + "v_h")),
                    h + "v_t", attrInts("perm", 0, 2, 1, 3));
            if (grouped) { // [B, K, T, d] → [B, K, H/K, T, d] → [B, H, T, d]: query head h reads kv head h / (H/K)
                k = repeatKv(g, k, groupAxis, group, repeatedShape, h + "k");
                v = repeatKv(g, v, groupAxis, group, repeatedShape, h + "v");
            }
            String kT = g.node("Transpose", List.of(k), h + "k_tt", attrInts("perm", 0, 1, 3, 2));
            String scores = g.node("Add", List.of(g.node("Mul", List.of(g.node("MatMul", List.of(q, kT), h + "qk"), scale),
                    h + "qk_scaled"), mask), h + "scores");
            String probs = g.node("Softmax", List.of(scores), h + "probs", attrInt("axis", -1));
            String y = g.node("Reshape", List.of(g.node("Transpose", List.of(g.node("MatMul", List.of(probs, v),
                    h + "att_v")), h + "att_t", attrInts("perm", 0, 2, 1, 3)), mergedShape), h + "att_merged");
            String o = g.linear(y, h + "self_attn.o_proj.weight", h + "o_mm");
            if (p.hasLayer(l, "self_attn.o_proj.bias")) {
                o = g.node("Add", List.of(o, h + "self_attn.o_proj.bias"), h + "o");
            }
            x = g.node("Add", List.of(x, o), h + "x_attn");
            String h2 = rmsNorm(g, x, h + "post_attention_layernorm.weight", eps, h + "rms2");
            String gu = g.linear(h2, h + "mlp.gate_up_proj.weight", h + "gate_up");
            List<String> gateUp = g.nodeMulti("Split", List.of(gu, mlpSplit), List.of(h + "gate", h + "up"),
                    attrInt("axis", -1));
            String silu = g.node("Mul", List.of(gateUp.get(0), g.node("Sigmoid", List.of(gateUp.get(0)), h + "sigmoid")),
                    h + "silu");
            String act = g.node("Mul", List.of(silu, gateUp.get(1)), h + "act");
            x = g.node("Add", List.of(x, g.linear(act, h + "mlp.down_proj.weight", h + "down")),
                    "x_" + (l + 1));
        }
        String xf = rmsNorm(g, x, "norm.weight", eps, "norm");
        String head = ll.tieWordEmbeddings() ? "embed_tokens.weight" : "lm_head.weight";
        g.head(xf, head, "logits");
    }

    /** {@code x / sqrt(mean(x^2) + eps) * gain} over the last axis. */
    private static String rmsNorm(Graph g, String x, String gain, String eps, String out) {
        String ms = g.node("ReduceMean", List.of(g.node("Mul", List.of(x, x), out + "_sq"), "last_axis"), out + "_ms",
                attrInt("keepdims", 1)); // axes an input since opset 18
        String rms = g.node("Sqrt", List.of(g.node("Add", List.of(ms, eps), out + "_ms_eps")), out + "_rms");
        return g.node("Mul", List.of(g.node("Div", List.of(x, rms), out + "_normed"), gain), out);
    }

    /** RoPE in rotate-half form on {@code [B, heads, T, d]}: {@code x cos + [-x2, x1] sin}. */
    private static String rotate(Graph g, String x, String cos, String sin, String halves, String prefix) {
        List<String> xs = g.nodeMulti("Split", List.of(x, halves), List.of(prefix + "_x1", prefix + "_x2"),
                attrInt("axis", -1));
        String rotated = g.node("Concat", List.of(g.node("Neg", List.of(xs.get(1)), prefix + "_neg_x2"), xs.get(0)),
                prefix + "_rotated", attrInt("axis", -1));
        return g.node("Add", List.of(g.node("Mul", List.of(x, cos), prefix + "_cos"),
                g.node("Mul", List.of(rotated, sin), prefix + "_sin")), prefix + "_rope");
    }

    private static String repeatKv(Graph g, String x, String axis, String group, String shape, String prefix) {
        String grouped = g.node("Expand", List.of(g.node("Unsqueeze", List.of(x, axis), prefix + "_1"), group),
                prefix + "_grouped");
        return g.node("Reshape", List.of(grouped, shape), prefix + "_repeated");
    }

    private static String layerNorm(Graph g, String x, String prefix, String out) {
        return g.node("LayerNormalization", List.of(x, prefix + ".weight", prefix + ".bias"), out, attrInt("axis", -1),
                OnnxMl.AttributeProto.newBuilder().setName("epsilon").setType(OnnxMl.AttributeProto.AttributeType.FLOAT)
                        .setF(GptConfig.LN_EPS).build());
    }

    private static OnnxMl.ValueInfoProto valueInfo(String name, int elemType, String... dims) {
        OnnxMl.TensorShapeProto.Builder shape = OnnxMl.TensorShapeProto.newBuilder();
        for (String d : dims) {
            OnnxMl.TensorShapeProto.Dimension.Builder dim = OnnxMl.TensorShapeProto.Dimension.newBuilder();
            if (d.chars().allMatch(Character::isDigit)) {
                dim.setDimValue(Long.parseLong(d));
            } else {
                dim.setDimParam(d);
            }
            shape.addDim(dim);
        }
        return OnnxMl.ValueInfoProto.newBuilder().setName(name).setType(OnnxMl.TypeProto.newBuilder()
                .setTensorType(OnnxMl.TypeProto.Tensor.newBuilder().setElemType(elemType).setShape(shape))).build();
    }

    private static OnnxMl.AttributeProto attrInt(String name, long v) {
        return OnnxMl.AttributeProto.newBuilder().setName(name).setType(OnnxMl.AttributeProto.AttributeType.INT).setI(v)
                .build();
    }

    private static OnnxMl.AttributeProto attrInts(String name, long... v) {
        OnnxMl.AttributeProto.Builder b = OnnxMl.AttributeProto.newBuilder().setName(name)
                .setType(OnnxMl.AttributeProto.AttributeType.INTS);
        for (long x : v) {
            b.addInts(x);
        }
        return b.build();
    }

    private static OnnxMl.AttributeProto attrString(String name, String v) {
        return OnnxMl.AttributeProto.newBuilder().setName(name).setType(OnnxMl.AttributeProto.AttributeType.STRING)
                .setS(ByteString.copyFromUtf8(v)).build();
    }

    /** A graph under construction: nodes in order, initializers, unique names. */
    private static final class Graph {
        final OnnxMl.GraphProto.Builder graph = OnnxMl.GraphProto.newBuilder();
        final List<Model.Weight> weights = new ArrayList<>();
        final java.util.Set<String> int8 = new java.util.HashSet<>();

        String node(String op, List<String> inputs, String output, OnnxMl.AttributeProto... attrs) {
            return nodeMulti(op, inputs, List.of(output), attrs).get(0);
        }

        List<String> nodeMulti(String op, List<String> inputs, List<String> outputs, OnnxMl.AttributeProto... attrs) {
            OnnxMl.NodeProto.Builder n = OnnxMl.NodeProto.newBuilder().setOpType(op).setName(op + "_" + outputs.get(0))
                    .addAllInput(inputs).addAllOutput(outputs);
            for (OnnxMl.AttributeProto a : attrs) {
                n.addAttribute(a);
            }
            graph.addNode(n);
            return new ArrayList<>(outputs);
        }

        /** A float32 initializer whose values are streamed when the model is written. */
        void initializer(String name, INDArray values, long[] shape) {
            OnnxMl.TensorProto.Builder t = OnnxMl.TensorProto.newBuilder().setName(name)
                    .setDataType(OnnxMl.TensorProto.DataType.FLOAT_VALUE);
            for (long d : shape) {
                t.addDims(d);
            }
            weights.add(new Model.Weight(t.build(), values, null));
        }

        /**
         * {@code name} [rows, cols] as int8 ({@code name_quantized}) with a float32 scale per channel along
         * {@code axis} ({@code name_scale}: the channel's largest magnitude over {@value #INT8_WEIGHT_MAX} for
         * a product's weights, 127 for a lookup's) and zero points of 0
         * ({@code name_zero_point}). Axis 1 (output columns) for {@link #linear}'s weights; axis 0 (rows) for a
         * token embedding {@link #lookup} reads.
         */
        void int8Weight(String name, INDArray values, long[] shape, int axis, int max) {
            int rows = (int) shape[0];
            int cols = (int) shape[1];
            float[][] m = values.reshape(rows, cols).toFloatMatrix();
            float[] scale = new float[axis == 0 ? rows : cols];
            for (int i = 0; i < rows; i++) {
                for (int j = 0; j < cols; j++) {
                    int c = axis == 0 ? i : j;
                    scale[c] = Math.max(scale[c], Math.abs(m[i][j]));
                }
            }
            for (int c = 0; c < scale.length; c++) {
                scale[c] = scale[c] == 0 ? 1f : scale[c] / max;
            }
            byte[] q = new byte[rows * cols];
            for (int i = 0; i < rows; i++) {
                for (int j = 0; j < cols; j++) { // round half to even, as ONNX's QuantizeLinear
                    q[i * cols + j] = (byte) Math.max(-max, Math.min(max, Math.rint(m[i][j] / scale[axis == 0 ? i : j])));
                }
            }
            weights.add(new Model.Weight(OnnxMl.TensorProto.newBuilder().setName(name + "_quantized").addDims(rows)
                    .addDims(cols).setDataType(OnnxMl.TensorProto.DataType.INT8_VALUE).build(), null, q));
            ByteBuffer s = ByteBuffer.allocate(scale.length * 4).order(ByteOrder.LITTLE_ENDIAN);
            for (float f : scale) {
                s.putFloat(f);
            }
            graph.addInitializer(OnnxMl.TensorProto.newBuilder().setName(name + "_scale").addDims(scale.length)
                    .setDataType(OnnxMl.TensorProto.DataType.FLOAT_VALUE).setRawData(ByteString.copyFrom(s.array())));
            graph.addInitializer(OnnxMl.TensorProto.newBuilder().setName(name + "_zero_point").addDims(scale.length)
                    .setDataType(OnnxMl.TensorProto.DataType.INT8_VALUE).setRawData(ByteString.copyFrom(
                            new byte[scale.length])));
            int8.add(name);
        }

        /** Rows {@code ids} of {@code table}: a Gather, or of an int8 table, the int8 rows times their scales. */
        String lookup(String table, String ids, String out) {
            if (!int8.contains(table)) {
                return node("Gather", List.of(table, ids), out);
            }
            String rows = node("Cast", List.of(node("Gather", List.of(table + "_quantized", ids), out + "_int8")),
                    out + "_float", attrInt("to", OnnxMl.TensorProto.DataType.FLOAT_VALUE));
            String scales = node("Unsqueeze", List.of(node("Gather", List.of(table + "_scale", ids), out + "_scales"),
                    ints("last_axis_1d", new long[] {-1}, false)), out + "_scales_1");
            return node("Mul", List.of(rows, scales), out);
        }

        /**
         * The logits: {@code x} times the transposed vocabulary table ({@code [vocab, embd]}, the token embedding
         * when tied). An int8 table is turned back into float32 by a DequantizeLinear (a scale per row) first, so
         * the head's activations stay float, as {@code quantize_dynamic} leaves them.
         */
        String head(String x, String table, String out) {
            String weights = !int8.contains(table) ? table : node("DequantizeLinear", List.of(table + "_quantized",
                    table + "_scale", table + "_zero_point"), "head_dequantized", attrInt("axis", 0));
            return node("MatMul", List.of(x, node("Transpose", List.of(weights), "head_t", attrInts("perm", 1, 0))),
                    out);
        }

        /**
         * {@code x · weight}: a MatMul, or for an int8 weight ONNX Runtime's dynamic quantization in standard ops:
         * DynamicQuantizeLinear of {@code x} to uint8 (a scale and zero point per call), MatMulInteger with the
         * int8 weight, and the int32 product cast to float and scaled by the activations' scale times each
         * column's.
         */
        String linear(String x, String weight, String out) {
            if (!int8.contains(weight)) {
                return node("MatMul", List.of(x, weight), out);
            }
            return integerProduct(x, weight + "_quantized", weight + "_scale", weight + "_zero_point", out);
        }

        /** {@code x · b} for int8 {@code b} with a scale per column: see {@link #linear}. */
        private String integerProduct(String x, String b, String bScale, String bZeroPoint, String out) {
            List<String> xq = nodeMulti("DynamicQuantizeLinear", List.of(x), List.of(out + "_xq", out + "_xscale",
                    out + "_xzero"));
            String product = node("MatMulInteger", List.of(xq.get(0), b, xq.get(2), bZeroPoint), out + "_int32");
            String asFloat = node("Cast", List.of(product), out + "_float", attrInt("to",
                    OnnxMl.TensorProto.DataType.FLOAT_VALUE));
            String scale = node("Mul", List.of(xq.get(1), bScale), out + "_scale");
            return node("Mul", List.of(asFloat, scale), out);
        }

        /** An int64 constant: a scalar when {@code scalar}, else a 1-D tensor. */
        String ints(String name, long[] values, boolean scalar) {
            ByteBuffer b = ByteBuffer.allocate(values.length * 8).order(ByteOrder.LITTLE_ENDIAN);
            for (long v : values) {
                b.putLong(v);
            }
            OnnxMl.TensorProto.Builder t = OnnxMl.TensorProto.newBuilder().setName(name)
                    .setDataType(OnnxMl.TensorProto.DataType.INT64_VALUE).setRawData(ByteString.copyFrom(b.array()));
            if (!scalar) {
                t.addDims(values.length);
            }
            graph.addInitializer(t);
            return name;
        }

        String scalar(String name, float v) {
            ByteBuffer b = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putFloat(v);
            graph.addInitializer(OnnxMl.TensorProto.newBuilder().setName(name)
                    .setDataType(OnnxMl.TensorProto.DataType.FLOAT_VALUE).setRawData(ByteString.copyFrom(b.array())));
            return name;
        }

        /** [n, n]: 0 where a query may see a key (key <= query), the lowest float elsewhere, as GPT-2's mask. */
        void causalMask(String name, int n) {
            ByteBuffer b = ByteBuffer.allocate(n * n * 4).order(ByteOrder.LITTLE_ENDIAN);
            for (int i = 0; i < n; i++) {
                for (int j = 0; j < n; j++) {
                    b.putFloat(j <= i ? 0f : -Float.MAX_VALUE);
                }
            }
            graph.addInitializer(OnnxMl.TensorProto.newBuilder().setName(name).addDims(n).addDims(n)
                    .setDataType(OnnxMl.TensorProto.DataType.FLOAT_VALUE).setRawData(ByteString.copyFrom(b.array())));
        }
    }
}
