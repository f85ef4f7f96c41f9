package org.distillery.export;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Locale;
import org.distillery.core.DistilleryException;
import org.distillery.model.Checkpoint;

/** The serving formats, each a writer of a checkpoint into a folder. */
public enum ExportFormat {
    /** A Hugging Face model folder (safetensors, config, tokenizer). */
    HF {
        @Override
        public void write(Checkpoint ck, Path dir, TensorType type, ExportProvenance p, boolean overwrite)
                throws IOException {
            HfExporter.export(ck, dir, type, p, overwrite);
        }
    },
    /** An ONNX model: input_ids to logits, float32. */
    ONNX {
        @Override
        public TensorType nearest(TensorType asked) {
            return TensorType.F32;
        }

        @Override
        public void write(Checkpoint ck, Path dir, TensorType type, ExportProvenance p, boolean overwrite)
                throws IOException {
            OnnxExporter.export(ck, dir, p, overwrite);
        }
    },
    /** A GGUF file as llama.cpp's gpt2 architecture reads it. */
    GGUF {
        @Override
        public TensorType nearest(TensorType asked) {
            return asked == TensorType.BF16 ? TensorType.F16 : asked; // the 16-bit type llama.cpp's gpt2 reads here
        }

        @Override
        public void write(Checkpoint ck, Path dir, TensorType type, ExportProvenance p, boolean overwrite)
                throws IOException {
            GgufExporter.export(ck, dir, type, p, overwrite);
        }
    };

    /**
     * The weight type this format is written in when {@code asked} is asked for: {@code asked} where the format
     * holds it, else the nearest it holds (ONNX: fp32; GGUF: fp16 for bf16).
     */
    public TensorType nearest(TensorType asked) {
        return asked;
    }

    public abstract void write(Checkpoint ck, Path dir, TensorType type, ExportProvenance p, boolean overwrite)
            throws IOException;

    public static ExportFormat parse(String s) {
        return switch (s.trim().toLowerCase(Locale.ROOT)) {
            case "hf" -> HF;
            case "gguf" -> GGUF;
            case "onnx" -> ONNX;
            default -> throw new DistilleryException("--format " + s + ": expected hf, onnx or gguf");
        };
    }
}
