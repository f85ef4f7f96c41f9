package org.distillery.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.distillery.core.io.BFloat16;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * bf16 products (training.precision: bf16) are the product of the operands rounded to bfloat16, accumulated in
 * float32: checked against that product computed in double, within float32 accumulation's own error bound
 * (gamma_k = k u / (1 - k u) times the sum of |a||b|, u = 2^-24), with every transposition and both band
 * directions. MKL runs them on any x86 CPU (emulated where there are no bf16 instructions), so this runs here.
 */
@Tag("numerical")
class Bf16ProductsTest {
    private static INDArray random(long seed, long rows, long cols) {
        return Nd4j.rand(Nd4j.getRandomFactory().getNewRandomInstance(seed), rows, cols).castTo(DataType.FLOAT)
                .subi(0.5).muli(4);
    }

    @Test
    void productsOfTheRoundedOperandsAccumulatedInFloat32() {
        Assumptions.assumeTrue(CpuBlas.get().bf16Products(), "bf16 products need Intel MKL; this JVM's BLAS is "
                + CpuBlas.get());
        for (Kernels engine : new Kernels[] {new VectorKernels(MatmulPrecision.BF16),
            new JavaKernels(MatmulPrecision.BF16)}) {
            assertEquals(MatmulPrecision.BF16, engine.products());
            // small (one core) and large enough to split into bands, taller and wider
            for (int[] s : new int[][] {{13, 37, 29}, {300, 64, 120}, {64, 300, 120}}) {
                for (boolean ta : new boolean[] {false, true}) {
                    for (boolean tb : new boolean[] {false, true}) {
                        check(engine, s[0], s[1], s[2], ta, tb);
                    }
                }
            }
        }
    }

    private static void check(Kernels engine, int m, int n, int k, boolean ta, boolean tb) {
        INDArray a = ta ? random(m * 31L + k, k, m) : random(m * 31L + k, m, k);
        INDArray b = tb ? random(n * 17L + k, n, k) : random(n * 17L + k, k, n);
        INDArray out = Nd4j.create(DataType.FLOAT, m, n);
        engine.gemm(a, b, out, ta, tb, 0.0);
        INDArray full = Nd4j.create(DataType.FLOAT, m, n);
        new JavaKernels().gemm(a, b, full, ta, tb, 0.0);
        double u = Math.scalb(1.0, -24);
        double gamma = k * u / (1 - k * u);
        boolean narrowed = false;
        String what = engine.name() + " " + m + "x" + n + "x" + k + (ta ? " a^T" : "") + (tb ? " b^T" : "");
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double exact = 0;
                double magnitude = 0;
                for (int p = 0; p < k; p++) {
                    double x = bf16(ta ? a.getFloat(p, i) : a.getFloat(i, p));
                    double y = bf16(tb ? b.getFloat(j, p) : b.getFloat(p, j));
                    exact += x * y;
                    magnitude += Math.abs(x * y);
                }
                float got = out.getFloat(i, j);
                assertTrue(Math.abs(got - exact) <= gamma * magnitude, what + " at (" + i + ", " + j + "): " + got
                        + " against " + exact + ", bound " + gamma * magnitude);
                narrowed |= got != full.getFloat(i, j);
            }
        }
        assertTrue(narrowed, what + ": equals the float32 product everywhere, so the operands were not narrowed");
    }

    private static float bf16(float v) {
        return BFloat16.toFloat(BFloat16.fromFloat(v));
    }
}
