package org.distillery.model;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Calls every kernel the Vector API engine overrides, on small shapes whose widths are not a multiple of any
 * vector width (so tails run too), until C2 has compiled each: {@link VectorCompilationTest} runs it in a JVM
 * that prints what the JIT inlined. The inputs are restored before every call, so values stay in range.
 */
final class VectorKernelsWorkout {
    private VectorKernelsWorkout() {
    }

    public static void main(String[] args) {
        int calls = Integer.parseInt(args[0]);
        Kernels k = KernelEngines.get("vector");
        int rows = 6;
        int cols = 100;
        int time = 12;
        Nd4j.getRandom().setSeed(7);
        INDArray x0 = Nd4j.rand(DataType.FLOAT, rows, cols).subi(0.5).muli(8);
        INDArray x = x0.dup();
        INDArray y = Nd4j.rand(DataType.FLOAT, rows, cols);
        INDArray out = Nd4j.create(DataType.FLOAT, rows, cols);
        INDArray bias = Nd4j.rand(DataType.FLOAT, cols);
        INDArray gain = Nd4j.rand(DataType.FLOAT, cols);
        INDArray xhat = Nd4j.create(DataType.FLOAT, rows, cols);
        INDArray rstd = Nd4j.create(DataType.FLOAT, rows, 1);
        INDArray dgain = Nd4j.create(DataType.FLOAT, cols);
        INDArray dbias = Nd4j.create(DataType.FLOAT, cols);
        INDArray dx = Nd4j.create(DataType.FLOAT, rows, cols);
        INDArray gateUp = Nd4j.rand(DataType.FLOAT, rows, 2 * cols).subi(0.5).muli(8);
        INDArray dgateUp = Nd4j.create(DataType.FLOAT, rows, 2 * cols);
        INDArray scores0 = Nd4j.rand(DataType.FLOAT, rows * time, time).subi(0.5).muli(4);
        INDArray scores = scores0.dup();
        INDArray dprobs = Nd4j.create(DataType.FLOAT, rows * time, time);
        INDArray params = Nd4j.rand(DataType.FLOAT, 1, 1003);
        INDArray grads = Nd4j.create(DataType.FLOAT, 1, 1003);
        INDArray m = Nd4j.create(DataType.FLOAT, 1, 1003);
        INDArray v = Nd4j.create(DataType.FLOAT, 1, 1003);
        INDArray mask = Nd4j.ones(DataType.FLOAT, 1, 1003);
        AdamW.Update update = new AdamW.Update(1e-3, 0.9, 0.95, 1e-8, 0.1, 0.1, 0.05, 1.0);
        int[] targets = new int[rows];
        for (int r = 0; r < rows; r++) {
            targets[r] = (r * 37) % cols;
        }
        for (int call = 0; call < calls; call++) {
            x.assign(x0);
            k.add(x, y);
            k.addBias(x, bias);
            k.layerNorm(x0, gain, bias, out, xhat, rstd);
            k.layerNormBackward(y, xhat, rstd, gain, dgain, dbias, dx, call % 2 == 0);
            k.swiglu(gateUp, out);
            k.swigluBackward(y, gateUp, dgateUp);
            INDArray th = k.gelu(x0, out);
            dx.assign(y);
            k.geluBackward(dx, x0, th);
            scores.assign(scores0);
            k.causalSoftmax(scores, time, 0.5);
            dprobs.assign(scores0);
            k.softmaxBackward(scores, dprobs, 0.5);
            k.softmaxRows(x0, 0.7f, out);
            x.assign(x0);
            k.crossEntropy(x, targets, x, 1.0);
            k.addColumnSums(y, dbias);
            grads.assign(0.01);
            k.adamW(params, grads, m, v, mask, update);
            k.sumOfSquares(params);
        }
        System.out.println("workout: " + calls + " calls of each kernel");
    }
}
