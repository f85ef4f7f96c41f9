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
        public void check(TensorType type) {
            if (type != TensorType.F32) {
                throw new DistilleryException("--dtype " + type.optionName() + ": onnx exports are fp32");
            }
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
        public void check(TensorType type) {
            if (type == TensorType.BF16) {
                throw new DistilleryException("--dtype bf16: gguf exports are fp32 or fp16");
            }
        }

        @Override
        public void write(Checkpoint ck, Path dir, TensorType type, ExportProvenance p, boolean overwrite)
                throws IOException {
            GgufExporter.export(ck, dir, type, p, overwrite);
        }
    };

    /** Fails when this format cannot hold {@code type}. */
    public void check(TensorType type) {
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
