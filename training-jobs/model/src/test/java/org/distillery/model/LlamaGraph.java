package org.distillery.model;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.nd4j.autodiff.samediff.SDIndex;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.shape.OneHot;
import org.nd4j.linalg.factory.Nd4j;

/**
 * A Llama-family model as a SameDiff graph, for one fixed batch shape, written head by head from the
 * definitions (as {@code LlamaForCausalLM} computes them) rather than the way {@link Gpt} fuses them: q, k and
 * v as separate column blocks of the fused projection, RoPE as {@code x cos + rotate_half(x) sin} in double
 * angles, every query head reading key/value head {@code h / (H / K)}, RMSNorm and SiLU from elementary ops.
 * SameDiff's autodiff of it is the reference for {@link Gpt}'s Llama backward pass.
 */
public final class LlamaGraph {
    private final SameDiff sd = SameDiff.create();
    private final GptConfig c;
    private final int batch;
    private final int time;
    private final List<String> names;

    public LlamaGraph(GptParameters params, int batch, int time) {
        this.c = params.config();
        this.batch = batch;
        this.time = time;
        this.names = params.names();
        GptConfig.Llama ll = c.llama();
        Map<String, SDVariable> w = new HashMap<>();
        for (String name : names) {
            w.put(name, sd.var(name, params.get(name).dup()));
        }
        int n = batch * time;
        int e = c.nEmbd();
        int d = c.headSize();
        int half = d / 2;
        int heads = c.nHead();
        int kv = c.kvHeads();
        float[] cos = new float[n * half];
        float[] sin = new float[n * half];
        for (int r = 0; r < n; r++) {
            for (int i = 0; i < half; i++) {
                double angle = (r % time) * Math.pow(ll.ropeTheta(), -2.0 * i / d);
                cos[r * half + i] = (float) Math.cos(angle);
                sin[r * half + i] = (float) Math.sin(angle);
            }
        }
        SDVariable cosV = sd.constant("cos", Nd4j.create(cos, new long[] {n, half}, DataType.FLOAT));
        SDVariable sinV = sd.constant("sin", Nd4j.create(sin, new long[] {n, half}, DataType.FLOAT));
        float[] maskValues = new float[time * time];
        for (int i = 0; i < time; i++) {
            for (int j = i + 1; j < time; j++) {
                maskValues[i * time + j] = Float.NEGATIVE_INFINITY;
            }
        }
        SDVariable mask = sd.constant("causal_mask", Nd4j.createFromArray(maskValues).reshape(time, time));
        SDVariable onehot = sd.placeHolder("onehot", DataType.FLOAT, n, c.vocabSize());
        SDVariable labels = sd.placeHolder("labels", DataType.FLOAT, n, c.vocabSize());
        SDVariable x = onehot.mmul(w.get("embed_tokens.weight"));
        for (int l = 0; l < c.nLayer(); l++) {
            String pre = "layers." + l + ".";
            SDVariable h1 = rmsNorm(x, w.get(pre + "input_layernorm.weight"));
            SDVariable qkv = h1.mmul(w.get(pre + "self_attn.qkv_proj.weight"));
            if (ll.attentionBias()) {
                qkv = qkv.add(w.get(pre + "self_attn.qkv_proj.bias"));
            }
            List<SDVariable> outs = new ArrayList<>();
            for (int h = 0; h < heads; h++) {
                int g = h / (heads / kv);
                SDVariable q = rope(cols(qkv, h * d, d), cosV, sinV, half).reshape(batch, time, d);
                SDVariable k = rope(cols(qkv, (heads + g) * d, d), cosV, sinV, half).reshape(batch, time, d);
                SDVariable v = cols(qkv, (heads + kv + g) * d, d).reshape(batch, time, d);
                SDVariable s = sd.mmul(q, k, false, true, false).mul(1.0 / Math.sqrt(d)).add(mask);
                outs.add(sd.mmul(sd.nn.softmax(s, 2), v).reshape(n, d));
            }
            SDVariable y = sd.concat(1, outs.toArray(new SDVariable[0]));
            SDVariable o = y.mmul(w.get(pre + "self_attn.o_proj.weight"));
            if (ll.attentionBias()) {
                o = o.add(w.get(pre + "self_attn.o_proj.bias"));
            }
            x = x.add(o);
            SDVariable h2 = rmsNorm(x, w.get(pre + "post_attention_layernorm.weight"));
            SDVariable gu = h2.mmul(w.get(pre + "mlp.gate_up_proj.weight"));
            int inter = ll.intermediateSize();
            SDVariable gate = cols(gu, 0, inter);
            SDVariable act = gate.mul(sd.nn.sigmoid(gate)).mul(cols(gu, inter, inter));
            x = x.add(act.mmul(w.get(pre + "mlp.down_proj.weight")));
        }
        SDVariable normed = rmsNorm(x, w.get("norm.weight"));
        SDVariable head = w.get(ll.tieWordEmbeddings() ? "embed_tokens.weight" : "lm_head.weight");
        SDVariable logits = sd.mmul(normed, head, false, true, false);
        sd.identity("logits", logits);
        SDVariable logp = logits.sub(sd.math.log(sd.math.exp(logits).sum(true, 1)));
        labels.mul(logp).sum(1).mean().neg("loss");
        sd.setLossVariables("loss");
    }

    private static SDVariable cols(SDVariable x, int from, int width) {
        return x.get(SDIndex.all(), SDIndex.interval(from, from + width));
    }

    /** {@code x cos + rotate_half(x) sin} on rows of one head, {@code rotate_half([a, b]) = [-b, a]}. */
    private SDVariable rope(SDVariable x, SDVariable cos, SDVariable sin, int half) {
        SDVariable a = cols(x, 0, half);
        SDVariable b = cols(x, half, half);
        return sd.concat(1, a.mul(cos).sub(b.mul(sin)), b.mul(cos).add(a.mul(sin)));
    }

    private SDVariable rmsNorm(SDVariable x, SDVariable gain) {
        return x.div(sd.math.sqrt(x.mul(x).mean(true, 1).add(c.llama().rmsNormEps()))).mul(gain);
    }

    private Map<String, INDArray> feed(Gpt.Batch b) {
        if (b.batch() != batch || b.time() != time) {
            throw new IllegalArgumentException("graph built for " + batch + "x" + time);
        }
        Map<String, INDArray> feed = new HashMap<>();
        INDArray onehot = Nd4j.create(DataType.FLOAT, (long) batch * time, c.vocabSize());
        Nd4j.exec(new OneHot(Nd4j.createFromArray(b.inputs()), onehot, c.vocabSize()));
        feed.put("onehot", onehot);
        INDArray labels = Nd4j.create(DataType.FLOAT, (long) batch * time, c.vocabSize());
        Nd4j.exec(new OneHot(Nd4j.createFromArray(b.targets() == null ? new int[b.inputs().length] : b.targets()),
                labels, c.vocabSize()));
        feed.put("labels", labels);
        return feed;
    }

    public INDArray logits(Gpt.Batch b) {
        return sd.output(feed(b), "logits").get("logits");
    }

    public double loss(Gpt.Batch b) {
        return sd.output(feed(b), "loss").get("loss").getDouble(0);
    }

    /** Gradients of the mean cross-entropy by parameter name. */
    public Map<String, INDArray> gradients(Gpt.Batch b) {
        return sd.calculateGradients(feed(b), names);
    }
}
