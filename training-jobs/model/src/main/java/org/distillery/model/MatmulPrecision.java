package org.distillery.model;

import java.util.Locale;
import java.util.function.Consumer;
import org.distillery.core.process.Processor;

/**
 * The precision of a model's matrix products. {@link #BF16}: bfloat16 operands, float32 accumulation and output
 * (Intel MKL's {@code cblas_gemm_bf16bf16f32}), everything else float32, as PyTorch's CPU autocast runs a linear
 * layer. Master weights, optimizer state, softmax, norms and reductions stay float32.
 */
public enum MatmulPrecision {
    FP32,
    BF16;

    /**
     * The system property {@code distillery.bf16=emulate}: bf16 products even on a CPU without bf16 instructions
     * (MKL emulates them, slowly), so the path is tested on any machine.
     */
    public static final String EMULATE_PROPERTY = "distillery.bf16";

    /** The spec's name of this precision: fp32 or bf16. */
    public String specName() {
        return name().toLowerCase(Locale.ROOT);
    }

    /**
     * The precision a job asking for {@code wanted} (fp32 or bf16) gets on this machine. bf16 where the processor
     * multiplies bfloat16 in hardware and MKL is the BLAS; otherwise fp32, and {@code notice} gets one line saying
     * why.
     */
    public static MatmulPrecision resolve(String wanted, Consumer<String> notice) {
        if (!"bf16".equalsIgnoreCase(wanted)) {
            return FP32;
        }
        Processor cpu = Processor.current();
        boolean emulate = "emulate".equals(System.getProperty(EMULATE_PROPERTY, ""));
        if (!cpu.bf16() && !emulate) {
            notice.accept("this CPU (" + cpu.model() + ") has no bf16 instructions (avx512_bf16 or amx_bf16): "
                    + "the matrix products run in fp32");
            return FP32;
        }
        if (!CpuBlas.get().bf16Products()) {
            notice.accept("bf16 products need Intel MKL, and this JVM's BLAS is " + CpuBlas.get().name()
                    + ": the matrix products run in fp32");
            return FP32;
        }
        return BF16;
    }
}
