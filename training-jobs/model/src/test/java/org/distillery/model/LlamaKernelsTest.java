package org.distillery.model;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * The Llama family's kernels in every engine (issue 22): RMSNorm and the SiLU-gated unit forward and backward against
 * SameDiff's autodiff of the same math; rotary embeddings against a hand computation in double (Hugging Face's
 * rotate-half layout), their backward as the rotation's transpose ({@code <R x, w> = <x, R^T w>}). Shapes are no
 * multiples of any vector width.
 */
@Tag("numerical")
class LlamaKernelsTest {
    private static final int ROWS = 13;
    private static final int COLS = 37;
    private static final double EPS = 1e-5;

    private static INDArray random(long seed, long... shape) {
        return Nd4j.rand(Nd4j.getRandomFactory().getNewRandomInstance(seed), shape).castTo(DataType.FLOAT).subi(0.5)
                .muli(4);
    }

    private static void close(INDArray want, INDArray got, double tolerance, String what) {
        double err = want.castTo(DataType.DOUBLE).sub(got.castTo(DataType.DOUBLE)).amaxNumber().doubleValue()
                / Math.max(1.0, want.amaxNumber().doubleValue());
        assertEquals(0.0, err, tolerance, what);
    }

    /** SameDiff's value of {@code y} and the gradients of {@code sum(w * y)} for each input, by name ("y": the value). */
    private static Map<String, INDArray> autodiff(Map<String, INDArray> inputs, INDArray w,
                                                  java.util.function.BiFunction<SameDiff, Map<String, SDVariable>,
                                                          SDVariable> y) {
        SameDiff sd = SameDiff.create();
        Map<String, SDVariable> vars = new java.util.LinkedHashMap<>();
        inputs.forEach((name, value) -> vars.put(name, sd.var(name, value.dup())));
        SDVariable out = y.apply(sd, vars);
        sd.identity("y", out);
        out.mul(sd.constant("w", w)).sum().rename("loss");
        sd.setLossVariables("loss");
        Map<String, INDArray> result = new java.util.HashMap<>(sd.calculateGradients(Map.of(),
                List.copyOf(inputs.keySet())));
        result.put("y", sd.output(Map.<String, INDArray>of(), "y").get("y"));
        return result;
    }

    @ParameterizedTest
    @MethodSource("org.distillery.model.GptTest#kernels")
    void rmsNormMatchesAutodiff(Kernels k) {
        INDArray x = random(1, ROWS, COLS);
        INDArray gain = random(2, COLS);
        INDArray w = random(3, ROWS, COLS); // the loss is sum(w * y): dL/dy = w
        Map<String, INDArray> grads = autodiff(Map.of("x", x, "g", gain), w, (sd, v) -> v.get("x")
                .div(sd.math.sqrt(v.get("x").mul(v.get("x")).mean(true, 1).add(EPS))).mul(v.get("g")));
        INDArray want = grads.get("y");

        INDArray out = Nd4j.create(DataType.FLOAT, ROWS, COLS);
        INDArray rstd = Nd4j.create(DataType.FLOAT, ROWS);
        k.rmsNorm(x, gain, EPS, out, rstd);
        close(want, out, 1e-5, "rmsNorm " + k.name());
        INDArray dgain = Nd4j.zeros(DataType.FLOAT, COLS);
        INDArray dx = Nd4j.create(DataType.FLOAT, ROWS, COLS);
        k.rmsNormBackward(w, x, rstd, gain, dgain, dx, false);
        close(grads.get("x"), dx, 1e-5, "rmsNorm dx " + k.name());
        close(grads.get("g"), dgain, 1e-5, "rmsNorm dgain " + k.name());
        INDArray residual = Nd4j.ones(DataType.FLOAT, ROWS, COLS);
        k.rmsNormBackward(w, x, rstd, gain, dgain, residual, true);
        close(dx.add(1), residual, 1e-6, "rmsNorm backward accumulates " + k.name());
    }

    @ParameterizedTest
    @MethodSource("org.distillery.model.GptTest#kernels")
    void swigluMatchesAutodiff(Kernels k) {
        INDArray gate = random(4, ROWS, COLS);
        INDArray up = random(5, ROWS, COLS);
        INDArray w = random(6, ROWS, COLS);
        Map<String, INDArray> grads = autodiff(Map.of("gate", gate, "up", up), w, (sd, v) -> v.get("gate")
                .mul(sd.nn.sigmoid(v.get("gate"))).mul(v.get("up")));
        INDArray want = grads.get("y");

        INDArray gateUp = Nd4j.concat(1, gate, up);
        INDArray out = Nd4j.create(DataType.FLOAT, ROWS, COLS);
        k.swiglu(gateUp, out);
        close(want, out, 1e-5, "swiglu " + k.name());
        INDArray dgateUp = Nd4j.create(DataType.FLOAT, ROWS, 2 * COLS);
        k.swigluBackward(w, gateUp, dgateUp);
        close(grads.get("gate"), dgateUp.get(NDArrayIndex.all(), NDArrayIndex.interval(0, COLS)), 1e-5,
                "swiglu dgate " + k.name());
        close(grads.get("up"), dgateUp.get(NDArrayIndex.all(), NDArrayIndex.interval(COLS, 2 * COLS)), 1e-5,
                "swiglu dup " + k.name());
    }

    @ParameterizedTest
    @MethodSource("org.distillery.model.GptTest#kernels")
    void ropeTurnsPairsOfHalvesAndItsBackwardIsTheTranspose(Kernels k) {
        int batch = 2;
        int time = 7;
        int from = 3; // decoding: the rows sit at positions 3..9
        int heads = 3;
        int untouched = 2; // the v heads of a fused qkv row
        int d = 10;
        double theta = 10000;
        RotaryTables t = RotaryTables.of(from + time, d, theta);
        INDArray x = random(7, batch * time, (heads + untouched) * d);
        INDArray turned = x.dup();
        k.rope(turned, time, from, heads, d, t.cos(), t.sin(), false);
        close(x.get(NDArrayIndex.all(), NDArrayIndex.interval(heads * d, (heads + untouched) * d)),
                turned.get(NDArrayIndex.all(), NDArrayIndex.interval(heads * d, (heads + untouched) * d)), 0,
                "heads past the rotated ones are left alone " + k.name());
        for (int r = 0; r < batch * time; r++) {
            int pos = from + r % time;
            for (int h = 0; h < heads; h++) {
                for (int i = 0; i < d / 2; i++) {
                    double angle = pos * Math.pow(theta, -2.0 * i / d);
                    double a = x.getDouble(r, h * d + i);
                    double b = x.getDouble(r, h * d + i + d / 2);
                    assertEquals(a * Math.cos(angle) - b * Math.sin(angle), turned.getDouble(r, h * d + i), 1e-5,
                            k.name() + " row " + r + " head " + h + " dim " + i);
                    assertEquals(b * Math.cos(angle) + a * Math.sin(angle), turned.getDouble(r, h * d + i + d / 2),
                            1e-5, k.name() + " row " + r + " head " + h + " dim " + (i + d / 2));
                }
            }
        }
        INDArray w = random(8, batch * time, (heads + untouched) * d);
        INDArray back = w.dup();
        k.rope(back, time, from, heads, d, t.cos(), t.sin(), true);
        double lhs = turned.castTo(DataType.DOUBLE).mul(w.castTo(DataType.DOUBLE)).sumNumber().doubleValue();
        double rhs = x.castTo(DataType.DOUBLE).mul(back.castTo(DataType.DOUBLE)).sumNumber().doubleValue();
        assertEquals(lhs, rhs, 1e-4 * Math.abs(lhs), "<R x, w> = <x, R^T w>: the inverse is the backward");
        k.rope(turned, time, from, heads, d, t.cos(), t.sin(), true);
        close(x, turned, 1e-6, "turning back gives x " + k.name());
    }

    @ParameterizedTest
    @MethodSource("org.distillery.model.GptTest#kernels")
    void repeatKvSharesEachKeyValueHeadAcrossItsGroupAndSumsTheGradientsBack(Kernels k) {
        int heads = 6;
        int kv = 2;
        int d = 4;
        INDArray qkv = random(9, ROWS, (heads + 2 * kv) * d);
        INDArray full = Nd4j.create(DataType.FLOAT, ROWS, 3 * heads * d);
        k.repeatKv(qkv, full, heads, kv, d);
        for (int h = 0; h < heads; h++) {
            close(qkv.get(NDArrayIndex.all(), NDArrayIndex.interval(h * d, h * d + d)),
                    full.get(NDArrayIndex.all(), NDArrayIndex.interval(h * d, h * d + d)), 0, "q head " + h);
            for (int part = 1; part <= 2; part++) {
                int src = heads * d + (part - 1) * kv * d + (h / (heads / kv)) * d;
                int dst = part * heads * d + h * d;
                close(qkv.get(NDArrayIndex.all(), NDArrayIndex.interval(src, src + d)),
                        full.get(NDArrayIndex.all(), NDArrayIndex.interval(dst, dst + d)), 0,
                        (part == 1 ? "k" : "v") + " of query head " + h + " " + k.name());
            }
        }
        // the backward is the transpose: <repeat(x), w> = <x, repeat^T(w)>
        INDArray w = random(10, ROWS, 3 * heads * d);
        INDArray back = Nd4j.create(DataType.FLOAT, ROWS, (heads + 2 * kv) * d);
        k.repeatKvBackward(w, back, heads, kv, d);
        double lhs = full.castTo(DataType.DOUBLE).mul(w.castTo(DataType.DOUBLE)).sumNumber().doubleValue();
        double rhs = qkv.castTo(DataType.DOUBLE).mul(back.castTo(DataType.DOUBLE)).sumNumber().doubleValue();
        assertEquals(lhs, rhs, 1e-4 * Math.abs(lhs), "repeatKvBackward is repeatKv's transpose " + k.name());
    }
}
