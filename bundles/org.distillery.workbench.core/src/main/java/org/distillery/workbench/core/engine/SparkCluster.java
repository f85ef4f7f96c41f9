package org.distillery.workbench.core.engine;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * A Spark cluster the researcher launches on, by the name the launch dialog offers: its master URL and the work folder
 * that goes with it (an HDFS or object-store folder its executors reach; empty for none). Kept in the workbench's
 * preferences as a JSON list.
 *
 * @param name       what the launch dialog shows ({@code lab})
 * @param master     {@code spark://host:7077}, {@code yarn} or {@code k8s://...}
 * @param workFolder where the cluster's jobs keep their data and outputs ({@code hdfs://nn:8020/user/me/work})
 */
public record SparkCluster(String name, String master, String workFolder) {
    private static final ObjectMapper JSON = new ObjectMapper();

    public SparkCluster {
        name = name == null ? "" : name.strip();
        master = master == null ? "" : master.strip();
        workFolder = workFolder == null ? "" : workFolder.strip();
    }

    /** The launch dialog's entry: {@code name (master)}. */
    public String label() {
        return name + " (" + master + ")";
    }

    /** What is wrong with a list of clusters: each problem names the cluster and the field. */
    public static List<String> problems(List<SparkCluster> clusters) {
        List<String> out = new ArrayList<>();
        Set<String> names = new HashSet<>();
        for (int i = 0; i < clusters.size(); i++) {
            SparkCluster c = clusters.get(i);
            String which = c.name.isEmpty() ? "cluster " + (i + 1) : "cluster '" + c.name + "'";
            if (c.name.isEmpty()) {
                out.add(which + ": name is empty");
            } else if (!names.add(c.name)) {
                out.add(which + ": name is used twice");
            }
            if (!EngineSettings.isMasterUrl(c.master) || c.master.startsWith("local")) {
                out.add(which + ": master '" + c.master + "' is no cluster's master URL, expected spark://host:port,"
                        + " yarn or k8s://...");
            }
            if (!c.workFolder.isEmpty() && !c.workFolder.matches("[a-zA-Z][a-zA-Z0-9+.-]*://.+|/.*")) {
                out.add(which + ": work folder '" + c.workFolder + "' is no URI (hdfs://..., s3a://...) or absolute path");
            }
        }
        return out;
    }

    /** The clusters written by {@link #write}; an unreadable preference reads as none. */
    public static List<SparkCluster> read(String json) {
        List<SparkCluster> out = new ArrayList<>();
        if (json == null || json.isBlank()) {
            return out;
        }
        try {
            for (JsonNode n : JSON.readTree(json)) {
                out.add(new SparkCluster(n.path("name").asText(), n.path("master").asText(),
                        n.path("work_folder").asText()));
            }
        } catch (IOException e) {
            return List.of();
        }
        return out;
    }

    public static String write(List<SparkCluster> clusters) {
        ArrayNode a = JSON.createArrayNode();
        clusters.forEach(c -> a.addObject().put("name", c.name).put("master", c.master).put("work_folder", c.workFolder));
        return a.toString();
    }

    /**
     * Where a {@code kind} job of the spec named {@code specName} writes on this cluster: {@code
     * <work folder>/<command>/<name>}, as the engine lays out its own work dir, so a resumed job finds its checkpoints
     * there; empty without a work folder (the engine's default) and for the experiment.
     */
    public String outFor(JobLaunch.Kind kind, String specName) {
        if (workFolder.isEmpty() || !kind.placeable() || specName.isEmpty()) {
            return "";
        }
        return workFolder.replaceAll("/+$", "") + "/" + kind.command() + "/" + specName;
    }

    /** The cluster a launch dialog's entry names (its label or name), if it names one. */
    public static java.util.Optional<SparkCluster> named(String entry, List<SparkCluster> clusters) {
        String e = entry == null ? "" : entry.strip();
        return clusters.stream().filter(c -> e.equals(c.label()) || e.equals(c.name)).findFirst();
    }

    /**
     * The master a launch dialog's entry means: a cluster's label or name gives its master; anything else is taken as
     * typed (a URL, or empty for the preference's).
     */
    public static String masterOf(String entry, List<SparkCluster> clusters) {
        return named(entry, clusters).map(SparkCluster::master).orElse(entry == null ? "" : entry.strip());
    }
}
