package org.distillery.export;

import java.nio.ByteBuffer;
import org.distillery.core.io.Float16;

/**
 * ggml's block quantizations of float32 rows, bit for bit as {@code ggml-quants.c}'s reference quantizers
 * ({@code quantize_row_q8_0_ref}, {@code quantize_row_q4_0_ref}), which llama.cpp's own quantizer runs when it has
 * no importance matrix. A block is 32 consecutive values of a row with one float16 scale {@code d}:
 * <ul>
 *   <li>{@code Q8_0} (34 bytes): {@code d = max|x| / 127}, then each value as {@code round(x / d)}, an int8, rounded
 *       half away from zero as C's {@code roundf};</li>
 *   <li>{@code Q4_0} (18 bytes): {@code d = m / -8} where {@code m} is the value of largest magnitude (with its
 *       sign), then each value as {@code min(15, trunc(x / d + 8.5))}, 4 bits; byte j holds value j in its low
 *       nibble and value j + 16 in its high one.</li>
 * </ul>
 * The quants are computed with the float32 reciprocal of the unrounded scale, as ggml does; the scale is stored
 * rounded to float16 (to nearest, ties to even, as F16C's conversion).
 * <p>
 * {@code Q6_K} (210 bytes) is a k-quant ({@code quantize_row_q6_K_ref}): a super-block of 256 values in 16
 * sub-blocks of 16, each sub-block's scale found by {@code make_qx_quants}' search for the scale that minimizes
 * the x²-weighted squared error, the 16 scales then quantized to int8 against one float16 super-scale, and each value
 * to 6 bits against its sub-block's scale; the low 4 bits of the values in {@code ql[128]}, the high 2 in
 * {@code qh[64]}, then {@code scales[16]} and {@code d}. Its arithmetic is ggml's, operation for operation, in
 * float32 (ggml-base is built without FMA), so the bytes are llama.cpp's.
 */
public enum GgmlBlocks {
    Q8_0(8, 34, 32),
    Q4_0(2, 18, 32),
    Q6_K(14, 210, 256);

    /** Values per block of the {@code _0} types. */
    public static final int QK = 32;
    /** Values per super-block of the k-quants. */
    public static final int QK_K = 256;

    /** The type's id in ggml.h. */
    final int ggmlId;
    /** Bytes per block. */
    final int blockBytes;
    /** Values per block: a row must be a whole number of them. */
    public final int values;

    /** Whether blocks are quantized across SIMD lanes. */
    static final boolean SIMD = Encoding.SIMD && VectorBlocks.FITS;
    /** Whether the k-quant's super-blocks are, one lane per sub-block. */
    static final boolean SIMD_K = Encoding.SIMD && VectorQ6K.FITS;

    GgmlBlocks(int ggmlId, int blockBytes, int values) {
        this.ggmlId = ggmlId;
        this.blockBytes = blockBytes;
        this.values = values;
    }

    /** The blocks of ggml type id {@code ggmlId}, or null. */
    static GgmlBlocks ofGgmlId(int ggmlId) {
        for (GgmlBlocks b : values()) {
            if (b.ggmlId == ggmlId) {
                return b;
            }
        }
        return null;
    }

    /** Bytes of {@code values} values (a multiple of {@link #values}). */
    public long bytes(long values) {
        return values / this.values * blockBytes;
    }

    /** Quantizes {@code x[from, from + values)} into one block at {@code out}'s position (little-endian). */
    public void quantize(float[] x, int from, ByteBuffer out) {
        byte[] block = new byte[blockBytes];
        quantize(x, from, block, 0);
        out.put(block);
    }

    /** Quantizes {@code x[from, from + values)} into one block at {@code out[at]} (little-endian). */
    public void quantize(float[] x, int from, byte[] out, int at) {
        int[] bits = new int[values];
        for (int j = 0; j < values; j++) {
            bits[j] = Float.floatToRawIntBits(x[from + j]);
        }
        quantize(bits, 0, values, out, at);
    }

    /**
     * Quantizes {@code n} float32 values (a multiple of {@link #values}), given as their bit patterns from {@code
     * bits[from]}, into {@code n / values} blocks from {@code out[at]}: across SIMD lanes where the JVM has the Vector
     * API ({@link VectorBlocks}, {@link VectorQ6K}), else one value at a time, with the same bits either way.
     */
    public void quantize(int[] bits, int from, int n, byte[] out, int at) {
        int blocks = n / values;
        if (this == Q6_K ? SIMD_K : SIMD) {
            switch (this) {
                case Q8_0 -> VectorBlocks.q8(bits, from, blocks, out, at);
                case Q4_0 -> VectorBlocks.q4(bits, from, blocks, out, at);
                case Q6_K -> VectorQ6K.quantize(bits, from, blocks, out, at);
            }
        } else {
            scalar(bits, from, blocks, out, at);
        }
    }

    /** {@link #quantize(int[], int, int, byte[], int)} one value at a time: ggml's reference loops. */
    void scalar(int[] bits, int from, int blocks, byte[] out, int at) {
        if (this == Q6_K) {
            Q6K.quantize(bits, from, blocks, out, at);
            return;
        }
        for (int b = 0; b < blocks; b++, from += values, at += blockBytes) {
            switch (this) {
                case Q8_0 -> q8(bits, from, out, at);
                case Q4_0 -> q4(bits, from, out, at);
                default -> throw new AssertionError(this);
            }
        }
    }

    /** Reads one block at {@code in}'s position into {@code y[to, to + values)}: ggml's {@code dequantize_row_*}. */
    public void dequantize(ByteBuffer in, float[] y, int to) {
        if (this == Q6_K) {
            Q6K.dequantize(in, y, to);
            return;
        }
        float d = Float16.toFloat(in.getShort());
        switch (this) {
            case Q8_0 -> {
                for (int j = 0; j < QK; j++) {
                    y[to + j] = in.get() * d;
                }
            }
            case Q4_0 -> {
                for (int j = 0; j < QK / 2; j++) {
                    int b = in.get() & 0xFF;
                    y[to + j] = ((b & 0x0F) - 8) * d;
                    y[to + j + QK / 2] = ((b >>> 4) - 8) * d;
                }
            }
            default -> throw new AssertionError(this);
        }
    }

    private static void q8(int[] x, int from, byte[] out, int at) {
        float amax = 0f;
        for (int j = 0; j < QK; j++) {
            float a = Math.abs(Float.intBitsToFloat(x[from + j]));
            amax = amax > a ? amax : a; // ggml's MAX macro, as ggml compares (Math.max's NaN and -0.0 cases branch)
        }
        float d = amax / 127;
        float id = d != 0f ? 1.0f / d : 0.0f;
        scale(d, out, at);
        for (int j = 0; j < QK; j++) {
            out[at + 2 + j] = (byte) roundHalfAway(Float.intBitsToFloat(x[from + j]) * id);
        }
    }

    private static void q4(int[] x, int from, byte[] out, int at) {
        float amax = 0f;
        float max = 0f;
        for (int j = 0; j < QK; j++) {
            float v = Float.intBitsToFloat(x[from + j]);
            if (amax < Math.abs(v)) {
                amax = Math.abs(v);
                max = v;
            }
        }
        float d = max / -8;
        float id = d != 0f ? 1.0f / d : 0.0f;
        scale(d, out, at);
        for (int j = 0; j < QK / 2; j++) {
            int x0 = Math.min(15, (int) (Float.intBitsToFloat(x[from + j]) * id + 8.5f));
            int x1 = Math.min(15, (int) (Float.intBitsToFloat(x[from + QK / 2 + j]) * id + 8.5f));
            out[at + 2 + j] = (byte) (x0 | x1 << 4);
        }
    }

    /** The block's scale as float16, little-endian, in its first two bytes. */
    static void scale(float d, byte[] out, int at) {
        short h = Float16.fromFloatBits(Float.floatToRawIntBits(d));
        out[at] = (byte) h;
        out[at + 1] = (byte) (h >>> 8);
    }

    /**
     * C's {@code roundf}: to nearest, halfway cases away from zero, exactly. In double, {@code v ± 0.5} is exact for
     * a float {@code v} (no rounding of 0.49999997 up, as {@code v + 0.5f} does), so truncating it rounds. Without a
     * data-dependent branch it is 3.5 times faster than {@link Math#round(float)} on magnitudes, whose branches
     * random weights mispredict half the time (4.7 against 16 ns a value here); equal to it for every multiple of
     * 2^-16 in (-256, 256).
     */
    private static int roundHalfAway(float v) {
        return (int) ((double) v + Math.copySign(0.5, v));
    }
}
