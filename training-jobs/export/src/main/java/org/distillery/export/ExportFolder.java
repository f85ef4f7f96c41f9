package org.distillery.export;

import ai.onnx.proto.OnnxMl;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.distillery.core.DistilleryException;

/**
 * An export as {@code distillery export} writes it: one format in the folder itself, or one
 * subfolder per format ({@code hf/}, {@code onnx/}, {@code gguf/}). Each format's provenance is read
 * back from inside its files with the format's own container (safetensors header, ONNX
 * {@code metadata_props}, GGUF keys), so a copied file still says where it came from.
 */
public record ExportFolder(Path dir, List<Part> parts) {
    /**
     * One format of an export: its folder, its main file and the {@code distillery.*} pairs in it;
     * {@code problem} says why a damaged file's provenance could not be read (null when it could).
     */
    public record Part(ExportFormat format, Path dir, Path file, long bytes, Map<String, String> provenance,
                       String problem) {
        public String name() {
            return format.name().toLowerCase(Locale.ROOT);
        }
    }

    /** The export at {@code dir}, or null when no format is there. */
    public static ExportFolder at(Path dir) {
        List<Part> parts = new ArrayList<>();
        Part here = part(dir);
        if (here != null) {
            parts.add(here);
        } else {
            for (ExportFormat f : ExportFormat.values()) {
                Part p = part(dir.resolve(f.name().toLowerCase(Locale.ROOT)));
                if (p != null) {
                    parts.add(p);
                }
            }
        }
        return parts.isEmpty() ? null : new ExportFolder(dir, List.copyOf(parts));
    }

    /**
     * The exports under {@code root}, sorted by name: {@code root} alone when it is one export (its files in it, or
     * only format-named subfolders: {@code hf/}, {@code onnx/}, {@code gguf/}), else every export folder directly
     * under it, one named {@code hf} among them too.
     */
    public static List<ExportFolder> under(Path root) {
        if (!Files.isDirectory(root)) {
            return List.of();
        }
        if (part(root) != null) {
            return List.of(at(root));
        }
        List<ExportFolder> out = new ArrayList<>();
        boolean onlyFormatNames = true;
        try (Stream<Path> dirs = Files.list(root)) {
            for (Path d : dirs.filter(Files::isDirectory).sorted().toList()) {
                ExportFolder e = at(d);
                if (e != null) {
                    out.add(e);
                    onlyFormatNames &= isFormatName(d.getFileName().toString());
                }
            }
        } catch (IOException e) {
            throw new DistilleryException(root + ": cannot list exports: " + e.getMessage(), e);
        }
        return onlyFormatNames && !out.isEmpty() ? List.of(at(root)) : out;
    }

    private static boolean isFormatName(String name) {
        for (ExportFormat f : ExportFormat.values()) {
            if (f.name().toLowerCase(Locale.ROOT).equals(name)) {
                return true;
            }
        }
        return false;
    }

    private static Part part(Path dir) {
        try {
            return found(dir, null);
        } catch (DistilleryException e) {
            return found(dir, e.getMessage());
        }
    }

    private static Part found(Path dir, String problem) {
        boolean read = problem == null;
        Path safetensors = dir.resolve("model.safetensors");
        if (Files.isRegularFile(dir.resolve("config.json")) && Files.isRegularFile(safetensors)) {
            return new Part(ExportFormat.HF, dir, safetensors, size(safetensors),
                    read ? distillery(SafetensorsFile.open(safetensors).metadata()) : Map.of(), problem);
        }
        Path onnx = dir.resolve(OnnxExporter.FILE);
        if (Files.isRegularFile(onnx)) {
            return new Part(ExportFormat.ONNX, dir, onnx, size(onnx), read ? onnxMetadata(onnx) : Map.of(), problem);
        }
        Path gguf = dir.resolve(GgufExporter.FILE);
        if (Files.isRegularFile(gguf)) {
            return new Part(ExportFormat.GGUF, dir, gguf, size(gguf),
                    read ? distillery(GgufFile.open(gguf).metadata()) : Map.of(), problem);
        }
        return null;
    }

    private static Map<String, String> onnxMetadata(Path file) {
        try (InputStream in = Files.newInputStream(file)) {
            Map<String, String> m = new TreeMap<>();
            for (OnnxMl.StringStringEntryProto p : OnnxMl.ModelProto.parseFrom(in).getMetadataPropsList()) {
                m.put(p.getKey(), p.getValue());
            }
            return distillery(m);
        } catch (IOException e) {
            throw new DistilleryException(file + ": not a readable ONNX model: " + e.getMessage(), e);
        }
    }

    private static Map<String, String> distillery(Map<String, ?> metadata) {
        Map<String, String> out = new TreeMap<>();
        metadata.forEach((k, v) -> {
            if (k.startsWith(ExportProvenance.PREFIX) && v != null) {
                out.put(k, String.valueOf(v));
            }
        });
        return out;
    }

    private static long size(Path f) {
        try {
            return Files.size(f);
        } catch (IOException e) {
            throw new DistilleryException(f + ": cannot read: " + e.getMessage(), e);
        }
    }
}
