package org.distillery.workbench.core.datasets;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.distillery.workbench.core.engine.EngineQuery;

/** A dataset's first documents, read by the engine as its prep job reads them ({@code datasets sample}). */
public record DatasetSample(String dataset, Path from, boolean fetched, List<String> documents) {
    public static DatasetSample of(EngineQuery engine, String dataset, int count) {
        JsonNode root = engine.json("datasets", "sample", dataset, "--count", String.valueOf(count), "--json");
        List<String> docs = new ArrayList<>();
        root.path("documents").forEach(d -> docs.add(d.asText()));
        return new DatasetSample(root.path("dataset").asText(), Path.of(root.path("from").asText()),
                root.path("fetched").asBoolean(), List.copyOf(docs));
    }
}
