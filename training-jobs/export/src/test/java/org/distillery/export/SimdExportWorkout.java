package org.distillery.export;

import java.util.SplittableRandom;

/**
 * Calls every SIMD quantizer and encoder the export module has, on small inputs whose lengths leave lane tails,
 * until C2 has compiled each: {@link VectorCompilationTest} runs it in a JVM that prints what the JIT inlined.
 * Each goes through its public entry ({@link GgmlBlocks#quantize(int[], int, int, byte[], int)}, {@link Encoding}),
 * so a vector width the SIMD quantizers do not fit runs the scalar ones instead, as an export would.
 */
final class SimdExportWorkout {
    private SimdExportWorkout() {
    }

    public static void main(String[] args) {
        int calls = Integer.parseInt(args[0]);
        SplittableRandom r = new SplittableRandom(11);
        int n = 2 * GgmlBlocks.QK_K;
        int[] bits = new int[n + 1];
        for (int i = 0; i < bits.length; i++) {
            // Weights of a few magnitudes, so blocks take different scales and every branch of the searches runs.
            bits[i] = Float.floatToRawIntBits((float) (r.nextGaussian() * Math.pow(10, r.nextInt(-3, 2))));
        }
        int rows = 37;
        int w = 29;
        int width = w + 3;
        int[] tile = r.ints((long) rows * width).toArray();
        byte[] bytes = new byte[(int) GgmlBlocks.Q8_0.bytes(n)];
        short[] shorts = new short[Math.max(n, rows * w)];
        int[] ints = new int[rows * w];
        long check = 0;
        for (int call = 0; call < calls; call++) {
            GgmlBlocks.Q8_0.quantize(bits, 0, n, bytes, 0);
            check += bytes[call % bytes.length];
            GgmlBlocks.Q4_0.quantize(bits, 0, n, bytes, 0);
            check += bytes[call % bytes.length];
            GgmlBlocks.Q6_K.quantize(bits, 0, GgmlBlocks.QK_K, bytes, 0);
            check += bytes[call % GgmlBlocks.Q6_K.blockBytes];
            Encoding.narrow(TensorType.F16, bits, 1, shorts, n - 3);
            check += shorts[call % n];
            Encoding.narrow(TensorType.BF16, bits, 1, shorts, n - 3);
            check += shorts[call % n];
            Encoding.transpose(tile, rows, width, w, ints, 0);
            check += ints[call % ints.length];
            Encoding.transposeNarrow(call % 2 == 0 ? TensorType.F16 : TensorType.BF16, tile, rows, width, w, shorts, 0);
            check += shorts[call % (rows * w)];
        }
        System.out.println("workout: " + calls + " calls of each (check " + check + ")");
    }
}
