package org.distillery.export;

import java.util.Locale;

/**
 * What {@code --dtype} asks an export's weights to be: a float type every format can hold or approach
 * ({@code fp32}, {@code fp16}, {@code bf16}), one of ggml's block quantizations ({@code q8_0}, {@code q4_0}, and
 * the k-quant {@code q6_k}), which GGUF alone holds, or ONNX's {@code int8}: linear layers with int8 weights (a scale per output channel) that
 * multiply activations quantized at run time.
 */
public enum ExportDtype {
    FP32(TensorType.F32, null),
    FP16(TensorType.F16, null),
    BF16(TensorType.BF16, null),
    Q8_0(null, GgmlBlocks.Q8_0),
    Q4_0(null, GgmlBlocks.Q4_0),
    Q6_K(null, GgmlBlocks.Q6_K),
    INT8(null, null);

    private final TensorType floats;
    private final GgmlBlocks blocks;

    ExportDtype(TensorType floats, GgmlBlocks blocks) {
        this.floats = floats;
        this.blocks = blocks;
    }

    /** The float type, or null for a quantization. */
    public TensorType floats() {
        return floats;
    }

    /** The block quantization, or null for a float type and int8. */
    public GgmlBlocks blocks() {
        return blocks;
    }

    public static ExportDtype of(TensorType t) {
        return switch (t) {
            case F32 -> FP32;
            case F16 -> FP16;
            case BF16 -> BF16;
        };
    }

    /** The name used on the command line: fp32, fp16, bf16, q8_0, q4_0, q6_k or int8. */
    public String optionName() {
        return floats != null ? floats.optionName() : name().toLowerCase(Locale.ROOT);
    }

    /** An option value (fp32, f16, bfloat16, q8_0, ...); an error naming the dtypes otherwise. */
    public static ExportDtype parse(String name) {
        String n = name.trim().toLowerCase(Locale.ROOT);
        return switch (n) {
            case "q8_0" -> Q8_0;
            case "q4_0" -> Q4_0;
            case "q6_k" -> Q6_K;
            case "int8" -> INT8;
            default -> {
                try {
                    yield of(TensorType.parse(n));
                } catch (IllegalArgumentException e) {
                    throw new IllegalArgumentException("unknown dtype '" + name + "': expected fp32, fp16, bf16, q8_0,"
                            + " q4_0 or q6_k (these three GGUF only), or int8 (ONNX only)");
                }
            }
        };
    }
}
