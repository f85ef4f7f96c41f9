package org.distillery.workbench.core.exports;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.distillery.workbench.core.engine.EngineQuery;

/** An export folder and its formats, with the provenance read from inside each file ({@code exports list}). */
public record Export(String name, Path path, List<Part> formats) {
    public static final String LIST_FORMAT = "distillery.exports/1";
    public static final String PREFIX = "distillery.";

    /**
     * What {@code distillery scorecard} measured of one format, in its serving runtime: held-out loss, quality
     * retained against the teacher, generation and prompt tokens/s at batch 1 with {@code threads} threads, peak
     * memory.
     */
    public record Score(String runtime, double loss, double qualityRetained, double generateTokensPerS,
                        double promptTokensPerS, long peakRssBytes, int threads, String reference) {
        static Score parse(JsonNode n) {
            if (!n.isObject()) {
                return null;
            }
            JsonNode one = n.path("speeds").path(0);
            return new Score(n.path("runtime").asText(), n.path("loss").asDouble(Double.NaN),
                    n.path("quality_retained").asDouble(Double.NaN), one.path("generate_tokens_per_s").asDouble(Double.NaN),
                    one.path("prompt_tokens_per_s").asDouble(Double.NaN), n.path("peak_rss_bytes").asLong(),
                    n.path("threads").asInt(), n.path("reference").asText());
        }
    }

    /**
     * One format: where it is, its size, its {@code distillery.*} provenance, or why that could not be read, and its
     * scorecard line when it has been measured (null otherwise).
     */
    public record Part(String format, Path path, Path file, long bytes, Map<String, String> provenance,
                       String problem, Score score) {
        /** A provenance value by its short key ({@code run_id}, {@code step}, {@code model.n_layer}); "" if absent. */
        public String get(String key) {
            return provenance.getOrDefault(PREFIX + key, "");
        }
    }

    /** The exports under {@code root} (the engine's default, {@code <work>/export}, when null). */
    public static List<Export> list(EngineQuery engine, Path root) {
        return parse(root == null ? engine.json("exports", "list", "--json")
                : engine.json("exports", "list", root.toString(), "--json"));
    }

    static List<Export> parse(JsonNode root) {
        if (!LIST_FORMAT.equals(root.path("format").asText())) {
            throw new IllegalArgumentException("expected a " + LIST_FORMAT + " document, got format '"
                    + root.path("format").asText() + "'");
        }
        List<Export> out = new ArrayList<>();
        for (JsonNode e : root.path("exports")) {
            List<Part> parts = new ArrayList<>();
            for (JsonNode f : e.path("formats")) {
                Map<String, String> prov = new TreeMap<>();
                f.path("provenance").fields().forEachRemaining(x -> prov.put(x.getKey(), x.getValue().asText()));
                parts.add(new Part(f.path("format").asText(), Path.of(f.path("path").asText()),
                        Path.of(f.path("file").asText()), f.path("bytes").asLong(), prov,
                        f.path("problem").isTextual() ? f.path("problem").asText() : null,
                        Score.parse(f.path("scorecard"))));
            }
            out.add(new Export(e.path("name").asText(), Path.of(e.path("path").asText()), List.copyOf(parts)));
        }
        return out;
    }

    /** The provenance shared by every format, for the summary line: run, step, model shape. */
    public String summary() {
        if (formats.isEmpty()) {
            return "";
        }
        Part p = formats.get(0);
        String arch = p.get("model.arch").isEmpty() ? "" : " " + p.get("model.arch"); // older exports lack it
        return "run " + p.get("run_id") + ", step " + p.get("step") + ", " + p.get("model.n_layer") + " layers x "
                + p.get("model.n_embd") + arch;
    }
}
