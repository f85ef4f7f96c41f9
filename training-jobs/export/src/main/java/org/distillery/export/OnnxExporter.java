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
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * A checkpoint as {@code model.onnx}: {@code input_ids} (int64, dynamic batch and sequence) to
 * {@code logits} (float32 {@code [batch, sequence, vocab]}), opset 20, built with the ONNX protobuf
 * classes generated from the official onnx.proto. The graph is GPT-2 written out in standard ops:
 * Gather embeddings, LayerNormalization, MatMul + Add, Split / Reshape / Transpose into heads, a causal
 * mask sliced from a [block, block] constant to the sequence length, Softmax, Gelu (tanh), and the LM
 * head as a MatMul with the transposed token embedding (stored once). Provenance goes to
 * {@code metadata_props}.
 */
public final class OnnxExporter {
    public static final String FILE = "model.onnx";
    public static final int OPSET = 20;
    /** Protobuf messages cannot exceed 2 GB; larger models would need ONNX external data. */
    private static final long MAX_BYTES = (2L << 30) - (64L << 20);

    private OnnxExporter() {
    }

    public static void export(Checkpoint ck, Path dir, ExportProvenance provenance, boolean overwrite) throws IOException {
        Model model = model(ck, provenance);
        AtomicDirectory.write(dir, overwrite, staging -> AtomicFile.writeChannel(staging.resolve(FILE), model::writeTo));
    }

    /**
     * The model as a {@code ModelProto} whose graph lacks the weight initializers, and those weights,
     * which {@link #writeTo} streams into the graph's bytes: protobuf repeated fields may come in any
     * order and a message's fields may be split, so the file parses as one whole ModelProto while the
     * weights never sit in the heap as protobuf byte strings.
     */
    record Model(OnnxMl.ModelProto withoutWeights, List<Weight> weights) {
        /** A float32 initializer: its TensorProto without raw_data, and the values streamed as raw_data. */
        record Weight(OnnxMl.TensorProto header, INDArray values) {
            long rawBytes() {
                return values.length() * 4;
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
                    encoder.write(w.values(), TensorType.F32);
                }
            }
        }

        private static int varintSize(long v) {
            return CodedOutputStream.computeUInt64SizeNoTag(v);
        }
    }

    static Model model(Checkpoint ck, ExportProvenance provenance) throws IOException {
        GptConfig c = ck.header().model();
        if (c.parameterCount() * 4 > MAX_BYTES) {
            throw new DistilleryException("the model has " + c.parameterCount() + " parameters: over ONNX's 2 GB limit"
                    + " for one file (external data is not written yet); export hf or gguf instead");
        }
        GptParameters p = GptParameters.wrap(c, ck.section(Checkpoint.PARAMS));
        Graph g = new Graph();
        for (String name : p.names()) {
            g.initializer(name, p.get(name), p.shape(name));
        }
        int heads = c.nHead();
        int d = c.headSize();
        long e = c.nEmbd();
        // Positions 0..T-1 and the causal mask [T, T], T taken from input_ids at run time.
        String shape = g.node("Shape", List.of("input_ids"), "shape");
        String t = g.node("Gather", List.of(shape, g.ints("one", new long[] {1}, true)), "seq_len", attrInt("axis", 0));
        String positions = g.node("Range", List.of(g.ints("zero", new long[] {0}, true), t,
                g.ints("one_step", new long[] {1}, true)), "positions");
        String tok = g.node("Gather", List.of("wte.weight", "input_ids"), "tok_emb");
        String pos = g.node("Gather", List.of("wpe.weight", positions), "pos_emb");
        String x = g.node("Add", List.of(tok, pos), "x_0");
        String t1 = g.node("Unsqueeze", List.of(t, g.ints("axis0", new long[] {0}, false)), "seq_len_1d");
        String tt = g.node("Concat", List.of(t1, t1), "mask_end", attrInt("axis", 0));
        g.causalMask("mask_full", c.blockSize());
        String mask = g.node("Slice", List.of("mask_full", g.ints("mask_start", new long[] {0, 0}, false), tt), "mask");
        String scale = g.scalar("scale", (float) (1.0 / Math.sqrt(d)));
        String headsShape = g.ints("heads_shape", new long[] {0, 0, heads, d}, false);
        String mergedShape = g.ints("merged_shape", new long[] {0, 0, e}, false);
        String split = g.ints("qkv_split", new long[] {e, e, e}, false);
        for (int l = 0; l < c.nLayer(); l++) {
            String h = "h." + l + ".";
            String ln1 = layerNorm(g, x, h + "ln_1", h + "ln1_out");
            String qkv = g.node("Add", List.of(g.node("MatMul", List.of(ln1, h + "attn.c_attn.weight"), h + "qkv_mm"),
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
            String proj = g.node("Add", List.of(g.node("MatMul", List.of(y, h + "attn.c_proj.weight"), h + "proj_mm"),
                    h + "attn.c_proj.bias"), h + "proj");
            x = g.node("Add", List.of(x, proj), h + "x_attn");
            String ln2 = layerNorm(g, x, h + "ln_2", h + "ln2_out");
            String fc = g.node("Add", List.of(g.node("MatMul", List.of(ln2, h + "mlp.c_fc.weight"), h + "fc_mm"),
                    h + "mlp.c_fc.bias"), h + "fc");
            String gelu = g.node("Gelu", List.of(fc), h + "gelu", attrString("approximate", "tanh"));
            String mlp = g.node("Add", List.of(g.node("MatMul", List.of(gelu, h + "mlp.c_proj.weight"), h + "mlp_mm"),
                    h + "mlp.c_proj.bias"), h + "mlp");
            x = g.node("Add", List.of(x, mlp), "x_" + (l + 1));
        }
        String xf = layerNorm(g, x, "ln_f", "ln_f_out");
        String wteT = g.node("Transpose", List.of("wte.weight"), "wte_t", attrInts("perm", 1, 0));
        g.node("MatMul", List.of(xf, wteT), "logits");

        OnnxMl.GraphProto.Builder graph = g.graph.setName("distillery_gpt2")
                .addInput(valueInfo("input_ids", OnnxMl.TensorProto.DataType.INT64_VALUE, "batch", "sequence"))
                .addOutput(valueInfo("logits", OnnxMl.TensorProto.DataType.FLOAT_VALUE, "batch", "sequence",
                        String.valueOf(c.vocabSize())));
        OnnxMl.ModelProto.Builder m = OnnxMl.ModelProto.newBuilder()
                .setIrVersion(9)
                .setProducerName("distillery")
                .setProducerVersion(provenance.distilleryVersion() == null ? "dev" : provenance.distilleryVersion())
                .setDomain("org.distillery")
                .setModelVersion(Math.max(1, provenance.step()))
                .setDocString("GPT-2 (" + c.nLayer() + " layers, " + c.nHead() + " heads, " + c.nEmbd() + " wide, block "
                        + c.blockSize() + ", vocab " + c.vocabSize() + "): input_ids [batch, sequence] int64 -> logits"
                        + " [batch, sequence, vocab] float32; sequence at most " + c.blockSize())
                .addOpsetImport(OnnxMl.OperatorSetIdProto.newBuilder().setDomain("").setVersion(OPSET))
                .setGraph(graph);
        for (Map.Entry<String, String> kv : provenance.asMetadata().entrySet()) {
            m.addMetadataProps(OnnxMl.StringStringEntryProto.newBuilder().setKey(kv.getKey()).setValue(kv.getValue()));
        }
        return new Model(m.build(), List.copyOf(g.weights));
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
            weights.add(new Model.Weight(t.build(), values));
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
