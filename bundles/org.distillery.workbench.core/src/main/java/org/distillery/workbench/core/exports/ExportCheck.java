package org.distillery.workbench.core.exports;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.distillery.workbench.core.engine.EngineQuery;

/**
 * The serving readers run on an export by {@code distillery exports check} (transformers, onnxruntime,
 * llama.cpp, or gguf-py where llama.cpp is not installed), each compared with Distillery's own logits: one result per
 * format.
 */
public record ExportCheck(Path export, String reference, boolean ok, List<Result> results) {
    public static final String FORMAT = "distillery.export-check/1";
    private static final ObjectMapper JSON = new ObjectMapper();

    /** One format's check: the reader that loaded it, whether it agreed, and the figures. */
    public record Result(String format, String reader, boolean ok, String detail, Double maxAbsLogitDiff) {
    }

    /** Runs the check (seconds: it starts Python readers) and reads its report. */
    public static ExportCheck run(EngineQuery engine, Path export) {
        Path report;
        try {
            report = Files.createTempFile("export-check", ".json");
            Files.delete(report);
        } catch (IOException e) {
            throw new EngineQuery.EngineQueryException("cannot make a temporary report file: " + e.getMessage(), e);
        }
        try {
            EngineQuery.Answer a = engine.run("exports", "check", export.toString(), "--report", report.toString());
            if (!Files.isRegularFile(report)) {
                throw new EngineQuery.EngineQueryException(a.error());
            }
            return parse(JSON.readTree(report.toFile()));
        } catch (IOException e) {
            throw new EngineQuery.EngineQueryException(report + ": cannot read the check's report: " + e.getMessage(), e);
        } finally {
            try {
                Files.deleteIfExists(report);
            } catch (IOException e) {
                // a temporary file left behind; nothing else to do
            }
        }
    }

    static ExportCheck parse(JsonNode root) {
        if (!FORMAT.equals(root.path("format").asText())) {
            throw new IllegalArgumentException("expected a " + FORMAT + " document, got format '"
                    + root.path("format").asText() + "'");
        }
        List<Result> results = new ArrayList<>();
        for (JsonNode c : root.path("checks")) {
            results.add(new Result(c.path("format").asText(), c.path("reader").asText(""), c.path("ok").asBoolean(),
                    c.path("detail").asText(""), c.has("max_abs_logit_diff") ? c.get("max_abs_logit_diff").asDouble()
                            : null));
        }
        return new ExportCheck(Path.of(root.path("export").asText()), root.path("reference").asText(),
                root.path("ok").asBoolean(), List.copyOf(results));
    }
}
