package org.distillery.workbench.core.runs;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The runs ticked in the Runs view, each with its label, in the order they were ticked: what the view keeps in its
 * part's persisted state, so the ticks (and the curves they plot) are there again after a restart, in whichever
 * stores the runs are.
 */
public final class TickedRuns {
    private static final ObjectMapper JSON = new ObjectMapper();

    private TickedRuns() {
    }

    /** The ticks as a JSON array of references with a {@code label} each. */
    public static String write(Map<RunRef, String> ticked) {
        ArrayNode a = JSON.createArrayNode();
        ticked.forEach((ref, label) -> ref.writeTo(a.addObject()).put("label", label));
        return a.toString();
    }

    /** Ticks written by {@link #write}; none for null or damaged text, and entries without a run id are left out. */
    public static Map<RunRef, String> read(String json) {
        Map<RunRef, String> out = new LinkedHashMap<>();
        if (json == null || json.isBlank()) {
            return out;
        }
        try {
            for (JsonNode n : JSON.readTree(json)) {
                RunRef ref = RunRef.readFrom(n);
                if (!ref.runId().isEmpty()) {
                    out.put(ref, n.path("label").asText(ref.runId()));
                }
            }
        } catch (IOException e) {
            // a damaged saved state: the view starts with no ticks
        }
        return out;
    }
}
