package org.distillery.model;

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
 * The same GPT-2 as a SameDiff graph, for one fixed batch shape. SameDiff's autodiff is the
 * reference that {@link Gpt}'s hand-written backward pass is tested against. It avoids the SameDiff
 * ops found unreliable in 1.0.0-M2.1: embeddings are one-hot products (two {@code gather}s in one
 * graph fail to differentiate), and LayerNorm and GELU are built from elementary ops so their
 * epsilon and approximation are GPT-2's exactly.
 */
public final class GptGraph {
    private final SameDiff sd = SameDiff.create();
    private final GptConfig c;
    private final int batch;
    private final int time;
    private final List<String> names;

    public GptGraph(GptParameters params, int batch, int time) {
        this.c = params.config();
        this.batch = batch;
        this.time = time;
        this.names = params.names();
        Map<String, SDVariable> w = new HashMap<>();
        for (String name : names) {
            w.put(name, sd.var(name, params.get(name).dup()));
        }
        int n = batch * time;
        int e = c.nEmbd();
        int h = c.nHead();
        int d = c.headSize();
        SDVariable onehot = sd.placeHolder("onehot", DataType.FLOAT, n, c.vocabSize());
        SDVariable labels = sd.placeHolder("labels", DataType.FLOAT, n, c.vocabSize());
        SDVariable pos = w.get("wpe.weight").get(SDIndex.interval(0, time), SDIndex.all());
        SDVariable x = onehot.mmul(w.get("wte.weight")).reshape(batch, time, e).add(pos).reshape(n, e);
        float[] maskValues = new float[time * time];
        for (int i = 0; i < time; i++) {
            for (int j = i + 1; j < time; j++) {
                maskValues[i * time + j] = Float.NEGATIVE_INFINITY;
            }
        }
        SDVariable mask = sd.constant("causal_mask", Nd4j.createFromArray(maskValues).reshape(time, time));
        for (int l = 0; l < c.nLayer(); l++) {
            String pre = "h." + l + ".";
            SDVariable ln1 = layerNorm(x, w.get(pre + "ln_1.weight"), w.get(pre + "ln_1.bias"));
            SDVariable wa = w.get(pre + "attn.c_attn.weight");
            SDVariable ba = w.get(pre + "attn.c_attn.bias");
            SDVariable[] qkv = new SDVariable[3];
            for (int i = 0; i < 3; i++) {
                SDVariable wi = wa.get(SDIndex.all(), SDIndex.interval(i * e, (i + 1) * e));
                SDVariable bi = ba.get(SDIndex.interval(i * e, (i + 1) * e));
                qkv[i] = ln1.mmul(wi).add(bi).reshape(batch, time, h, d).permute(0, 2, 1, 3);
            }
            SDVariable s = sd.mmul(qkv[0], qkv[1], false, true, false).mul(1.0 / Math.sqrt(d)).add(mask);
            SDVariable probs = sd.nn.softmax(s, 3);
            SDVariable y = sd.mmul(probs, qkv[2]).permute(0, 2, 1, 3).reshape(n, e);
            x = x.add(y.mmul(w.get(pre + "attn.c_proj.weight")).add(w.get(pre + "attn.c_proj.bias")));
            SDVariable ln2 = layerNorm(x, w.get(pre + "ln_2.weight"), w.get(pre + "ln_2.bias"));
            SDVariable fc = ln2.mmul(w.get(pre + "mlp.c_fc.weight")).add(w.get(pre + "mlp.c_fc.bias"));
            x = x.add(gelu(fc).mmul(w.get(pre + "mlp.c_proj.weight")).add(w.get(pre + "mlp.c_proj.bias")));
        }
        SDVariable lnf = layerNorm(x, w.get("ln_f.weight"), w.get("ln_f.bias"));
        SDVariable logits = sd.mmul(lnf, w.get("wte.weight"), false, true, false);
        sd.identity("logits", logits);
        // Mean cross-entropy from elementary ops: in M2.1 sparseSoftmaxCrossEntropy reduces differently
        // and logSoftmax(x, dim) fails to differentiate. No max subtraction: a reference for small logits.
        SDVariable logp = logits.sub(sd.math.log(sd.math.exp(logits).sum(true, 1)));
        labels.mul(logp).sum(1).mean().neg("loss");
        sd.setLossVariables("loss");
    }

    /** GPT-2's LayerNorm over the last dimension, epsilon 1e-5 inside the square root. */
    private SDVariable layerNorm(SDVariable x, SDVariable gain, SDVariable bias) {
        SDVariable xc = x.sub(x.mean(true, 1));
        SDVariable var = xc.mul(xc).mean(true, 1);
        return xc.div(sd.math.sqrt(var.add(GptConfig.LN_EPS))).mul(gain).add(bias);
    }

    /** GPT-2's GELU, the tanh approximation ({@code gelu_new} in Hugging Face). */
    private SDVariable gelu(SDVariable x) {
        SDVariable inner = x.add(x.mul(x).mul(x).mul(0.044715)).mul(Math.sqrt(2.0 / Math.PI));
        return x.mul(0.5).mul(sd.math.tanh(inner).add(1.0));
    }

    private Map<String, INDArray> feed(Gpt.Batch b) {
        if (b.batch() != batch || b.time() != time) {
            throw new IllegalArgumentException("graph built for " + batch + "x" + time);
        }
        INDArray onehot = Nd4j.create(DataType.FLOAT, (long) batch * time, c.vocabSize());
        Nd4j.exec(new OneHot(Nd4j.createFromArray(b.inputs()), onehot, c.vocabSize()));
        Map<String, INDArray> feed = new HashMap<>();
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

    public SameDiff sameDiff() {
        return sd;
    }
}
