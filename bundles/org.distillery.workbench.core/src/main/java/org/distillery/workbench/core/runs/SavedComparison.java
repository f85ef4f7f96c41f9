package org.distillery.workbench.core.runs;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * A comparison as the workbench remembers it between sessions (File > Recent Comparisons): its runs, their labels
 * for the menu, and what the researcher chose to see. Stored as JSON in the workbench's preferences.
 *
 * @param runs            the runs, in their column order
 * @param labels          one per run, as the comparison titled them
 * @param metrics         the metrics charted
 * @param axis            what the curves are drawn against
 * @param differencesOnly whether the params table shows only the rows that differ
 */
public record SavedComparison(List<RunRef> runs, List<String> labels, List<String> metrics, RunComparison.Axis axis,
                              boolean differencesOnly) {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** How many comparisons File > Recent keeps. */
    public static final int RECENT = 10;

    public SavedComparison {
        runs = List.copyOf(runs);
        labels = List.copyOf(labels);
        metrics = List.copyOf(metrics);
    }

    /** The menu's title: the runs' labels. */
    public String title() {
        return String.join(" vs ", labels);
    }

    /** Whether {@code other} compares the same runs in the same order. */
    public boolean sameRuns(SavedComparison other) {
        return runs.equals(other.runs);
    }

    /** This comparison as one JSON object: what a part's persisted state and a menu item's parameter hold. */
    public String json() {
        return toJson().toString();
    }

    /** A comparison written by {@link #json()}, or none when it cannot be read. */
    public static java.util.Optional<SavedComparison> parse(String json) {
        return json == null ? java.util.Optional.empty() : read("[" + json + "]").stream().findFirst();
    }

    private ObjectNode toJson() {
        ObjectNode n = JSON.createObjectNode();
        ArrayNode rs = n.putArray("runs");
        runs.forEach(r -> r.writeTo(rs.addObject()));
        labels.forEach(n.putArray("labels")::add);
        metrics.forEach(n.putArray("metrics")::add);
        n.put("axis", axis.name());
        n.put("differences_only", differencesOnly);
        return n;
    }

    /** A list written by {@link #write}; entries it cannot read are left out (a newer or damaged preference). */
    public static List<SavedComparison> read(String json) {
        List<SavedComparison> out = new ArrayList<>();
        if (json == null || json.isBlank()) {
            return out;
        }
        JsonNode list;
        try {
            list = JSON.readTree(json);
        } catch (IOException e) {
            return out;
        }
        for (JsonNode n : list) {
            try {
                List<RunRef> runs = new ArrayList<>();
                n.path("runs").forEach(r -> runs.add(RunRef.readFrom(r)));
                List<String> labels = new ArrayList<>();
                n.path("labels").forEach(l -> labels.add(l.asText()));
                List<String> metrics = new ArrayList<>();
                n.path("metrics").forEach(m -> metrics.add(m.asText()));
                if (runs.size() >= 2 && labels.size() == runs.size()) {
                    out.add(new SavedComparison(runs, labels, metrics,
                            RunComparison.Axis.valueOf(n.path("axis").asText("STEP")),
                            n.path("differences_only").asBoolean()));
                }
            } catch (IllegalArgumentException e) {
                // an axis this version does not know: leave the entry out
            }
        }
        return out;
    }

    /** {@code recent} with {@code latest} first (replacing an entry of the same runs), at most {@link #RECENT}. */
    public static List<SavedComparison> remember(List<SavedComparison> recent, SavedComparison latest) {
        List<SavedComparison> out = new ArrayList<>();
        out.add(latest);
        recent.stream().filter(s -> !s.sameRuns(latest)).limit(RECENT - 1).forEach(out::add);
        return out;
    }

    public static String write(List<SavedComparison> list) {
        ArrayNode a = JSON.createArrayNode();
        list.forEach(s -> a.add(s.toJson()));
        return a.toString();
    }
}
