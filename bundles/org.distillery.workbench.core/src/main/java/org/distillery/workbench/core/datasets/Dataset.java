package org.distillery.workbench.core.datasets;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.distillery.workbench.core.engine.EngineQuery;

/**
 * One descriptor of the catalogue ({@code datasets/<name>/dataset.yaml}) with its fetch state, as the
 * engine's {@code datasets list --json} reports it.
 */
public record Dataset(String name, String description, String license, String homepage, String format,
                      String npm, String version, String sha256, Path descriptor, Path sample, boolean fetched,
                      Path fetchedPath) {
    public static final String LIST_FORMAT = "distillery.datasets/1";

    /** The catalogue, asked of the engine. */
    public static List<Dataset> list(EngineQuery engine) {
        return parse(engine.json("datasets", "list", "--json"));
    }

    static List<Dataset> parse(JsonNode root) {
        if (!LIST_FORMAT.equals(root.path("format").asText())) {
            throw new IllegalArgumentException("expected a " + LIST_FORMAT + " document, got format '"
                    + root.path("format").asText() + "'");
        }
        List<Dataset> out = new ArrayList<>();
        for (JsonNode d : root.path("datasets")) {
            JsonNode src = d.path("source");
            out.add(new Dataset(d.path("name").asText(), d.path("description").asText(""), d.path("license").asText(""),
                    d.path("homepage").asText(""), d.path("format").asText(""), src.path("npm").asText(""),
                    src.path("version").asText(""), src.path("sha256").asText(""), path(d, "descriptor"),
                    path(d, "sample_path"), d.path("fetched").asBoolean(), path(d, "fetched_path")));
        }
        return out;
    }

    /** fetched, sample only, or not fetched. */
    public String state() {
        return fetched ? "fetched" : sample != null ? "sample only" : "not fetched";
    }

    /** A tokenizer asset rather than a corpus: it has no documents. */
    public boolean corpus() {
        return !"gpt2-vocab".equals(format);
    }

    private static Path path(JsonNode n, String field) {
        JsonNode v = n.get(field);
        return v == null || v.isNull() ? null : Path.of(v.asText());
    }
}
