package org.distillery.export;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import org.distillery.core.DistilleryException;
import org.distillery.model.Checkpoint;

/** The serving formats, each a writer of a checkpoint into a folder. */
public enum ExportFormat {
    /** A Hugging Face model folder (safetensors, config, tokenizer). */
    HF {
        @Override
        public ExportDtype nearest(ExportDtype asked) {
            return floatsOnly(asked);
        }

        @Override
        public List<String> write(Checkpoint ck, Path dir, ExportDtype type, ExportProvenance p, boolean overwrite)
                throws IOException {
            HfExporter.export(ck, dir, floatsOnly(type).floats(), p.withDtype(type), overwrite);
            return List.of();
        }
    },
    /** An ONNX model: input_ids to logits, float32, or with int8 linear layers. */
    ONNX {
        @Override
        public ExportDtype nearest(ExportDtype asked) {
            return asked == ExportDtype.INT8 ? asked : floatsOnly(asked) == ExportDtype.FP32 ? asked : ExportDtype.FP32;
        }

        @Override
        public List<String> write(Checkpoint ck, Path dir, ExportDtype type, ExportProvenance p, boolean overwrite)
                throws IOException {
            ExportDtype t = nearest(type);
            OnnxExporter.export(ck, dir, t == ExportDtype.INT8, p.withDtype(t), overwrite);
            return List.of();
        }
    },
    /** A GGUF file as llama.cpp's gpt2 or llama architecture reads it, in floats or ggml's q8_0 / q4_0 / q6_k blocks. */
    GGUF {
        @Override
        public ExportDtype nearest(ExportDtype asked) {
            if (asked == ExportDtype.INT8) {
                throw new DistilleryException("--dtype int8 is not a dtype gguf holds (fp32, fp16, q8_0, q4_0, q6_k): int8 is"
                        + " ONNX's (--format onnx); ggml's 8-bit type is q8_0");
            }
            return asked == ExportDtype.BF16 ? ExportDtype.FP16 : asked; // the 16-bit type llama.cpp reads everywhere
        }

        @Override
        public List<String> write(Checkpoint ck, Path dir, ExportDtype type, ExportProvenance p, boolean overwrite)
                throws IOException {
            return GgufExporter.export(ck, dir, nearest(type), p.withDtype(nearest(type)), overwrite);
        }
    };

    /**
     * The weight type this format is written in when {@code asked} is asked for: {@code asked} where the format
     * holds it, else the nearest it holds (ONNX: fp32; GGUF: fp16 for bf16); a quantization a format does not hold
     * is an error.
     */
    public ExportDtype nearest(ExportDtype asked) {
        return asked;
    }

    /** Writes the export; returns notes on what the dtype could not be applied to (none for most). */
    public abstract List<String> write(Checkpoint ck, Path dir, ExportDtype type, ExportProvenance p,
                                       boolean overwrite) throws IOException;

    /** {@code asked} when it is a float type; a quantization is an error naming the format that holds it. */
    ExportDtype floatsOnly(ExportDtype asked) {
        if (asked.floats() == null) {
            String holds = this == ONNX ? "fp32 or int8" : "fp32, fp16 or bf16";
            throw new DistilleryException("--dtype " + asked.optionName() + " is not a dtype " + name().toLowerCase(Locale.ROOT)
                    + " holds (" + holds + "); " + (asked == ExportDtype.INT8 ? "int8 is ONNX's: --format onnx"
                    : asked.optionName() + " is one of ggml's block quantizations: --format gguf"));
        }
        return asked;
    }

    public static ExportFormat parse(String s) {
        return switch (s.trim().toLowerCase(Locale.ROOT)) {
            case "hf" -> HF;
            case "gguf" -> GGUF;
            case "onnx" -> ONNX;
            default -> throw new DistilleryException("--format " + s + ": expected hf, onnx or gguf");
        };
    }
}
