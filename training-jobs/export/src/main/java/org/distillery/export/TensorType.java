package org.distillery.export;

import java.nio.ByteBuffer;
import java.util.Locale;
import org.distillery.core.io.BFloat16;
import org.distillery.core.io.Float16;

/**
 * The floating-point element types Distillery writes: float32, and the two 16-bit types serving
 * stacks load (IEEE half and bfloat16). Narrowing rounds to nearest, ties to even, as PyTorch's
 * {@code .half()} and {@code .bfloat16()} do, so an export equals what a Python conversion of the
 * same float32 weights would give, bit for bit.
 */
public enum TensorType {
    F32(4),
    F16(2),
    BF16(2);

    private final int bytes;

    TensorType(int bytes) {
        this.bytes = bytes;
    }

    public int bytes() {
        return bytes;
    }

    /** The name used on the command line and in specs: fp32, fp16 or bf16. */
    public String optionName() {
        return switch (this) {
            case F32 -> "fp32";
            case F16 -> "fp16";
            case BF16 -> "bf16";
        };
    }

    /** fp32, fp16 or bf16 (also f32, f16, float32, float16, bfloat16); an error naming what is expected otherwise. */
    public static TensorType parse(String name) {
        return switch (name.trim().toLowerCase(Locale.ROOT)) {
            case "fp32", "f32", "float32" -> F32;
            case "fp16", "f16", "float16", "half" -> F16;
            case "bf16", "bfloat16" -> BF16;
            default -> throw new IllegalArgumentException("unknown dtype '" + name + "': expected fp32, fp16 or bf16");
        };
    }

    /** Appends {@code v} in this type, little-endian ({@code out} must be in little-endian order). */
    public void put(ByteBuffer out, float v) {
        switch (this) {
            case F32 -> out.putFloat(v);
            case F16 -> out.putShort(toHalf(v));
            case BF16 -> out.putShort(toBfloat16(v));
        }
    }

    /** Reads one value of this type at the buffer's position (little-endian order). */
    public float get(ByteBuffer in) {
        return switch (this) {
            case F32 -> in.getFloat();
            case F16 -> fromHalf(in.getShort());
            case BF16 -> fromBfloat16(in.getShort());
        };
    }

    /** float32 to bfloat16 ({@link BFloat16}): rounded to nearest even; NaN stays a (quiet) NaN. */
    static short toBfloat16(float v) {
        return BFloat16.fromFloat(v);
    }

    /** {@link #toBfloat16(float)} of the float with these bits. */
    static short toBfloat16(int bits) {
        return BFloat16.fromFloatBits(bits);
    }

    static float fromBfloat16(short h) {
        return BFloat16.toFloat(h);
    }

    /**
     * float32 to IEEE 754 half, rounded to nearest even, with subnormals, infinities and NaN (as
     * 0x7e00, PyTorch's NaN). Branch-light, after F. Giesen's float_to_half_fast3_rtne: subnormal
     * results come from one float addition that lets the FPU do the rounding.
     */
    static short toHalf(float v) {
        return toHalf(Float.floatToRawIntBits(v));
    }

    /** {@link #toHalf(float)} of the float with these bits. */
    static short toHalf(int bits) {
        return Float16.fromFloatBits(bits);
    }

    static float fromHalf(short h) {
        return Float16.toFloat(h);
    }
}
