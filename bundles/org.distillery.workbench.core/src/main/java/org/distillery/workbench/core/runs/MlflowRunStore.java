package org.distillery.workbench.core.runs;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * Runs on an MLflow tracking server, read through its REST API (2.0): experiments/search, runs/search
 * and metrics/get-history, following page tokens. The engine writes through the MLflow Java client; the
 * workbench only reads, so plain HTTP and Jackson keep the product small.
 */
public final class MlflowRunStore implements RunStore {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Duration TIMEOUT = Duration.ofSeconds(10);

    private final String uri;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(TIMEOUT).build();

    public MlflowRunStore(String uri) {
        this.uri = uri.endsWith("/") ? uri.substring(0, uri.length() - 1) : uri;
    }

    @Override
    public String location() {
        return uri;
    }

    @Override
    public List<RunInfo> runs() {
        Map<String, String> experiments = new TreeMap<>(); // id -> name
        String token = null;
        do {
            ObjectNode body = JSON.createObjectNode().put("max_results", 1000);
            if (token != null) {
                body.put("page_token", token);
            }
            JsonNode page = post("/api/2.0/mlflow/experiments/search", body);
            page.path("experiments").forEach(e -> experiments.put(e.path("experiment_id").asText(), e.path("name").asText()));
            token = page.path("next_page_token").asText(null);
        } while (token != null && !token.isEmpty());
        List<RunInfo> out = new ArrayList<>();
        if (experiments.isEmpty()) {
            return out;
        }
        token = null;
        do {
            ObjectNode body = JSON.createObjectNode().put("max_results", 1000);
            experiments.keySet().forEach(body.putArray("experiment_ids")::add);
            if (token != null) {
                body.put("page_token", token);
            }
            JsonNode page = post("/api/2.0/mlflow/runs/search", body);
            for (JsonNode run : page.path("runs")) {
                JsonNode info = run.path("info");
                Map<String, String> tags = pairs(run.path("data").path("tags"));
                out.add(new RunInfo(info.path("run_id").asText(), experiments.getOrDefault(
                        info.path("experiment_id").asText(), info.path("experiment_id").asText()),
                        info.path("run_name").asText(tags.getOrDefault("mlflow.runName", info.path("run_id").asText())),
                        info.path("status").asText(), info.path("start_time").asLong(), info.path("end_time").asLong(0),
                        tags.get("mlflow.parentRunId"), tags.get("distillery.local_run_id")));
            }
            token = page.path("next_page_token").asText(null);
        } while (token != null && !token.isEmpty());
        out.sort(Comparator.comparingLong(RunInfo::startTime));
        return out;
    }

    @Override
    public Map<String, String> params(RunInfo run) {
        return pairs(get("/api/2.0/mlflow/runs/get", "run_id", run.id()).path("run").path("data").path("params"));
    }

    @Override
    public Map<String, List<MetricPoint>> history(RunInfo run) {
        JsonNode latest = get("/api/2.0/mlflow/runs/get", "run_id", run.id()).path("run").path("data").path("metrics");
        Map<String, List<MetricPoint>> out = new TreeMap<>();
        for (JsonNode m : latest) {
            String key = m.path("key").asText();
            SortedMap<Long, MetricPoint> curve = new TreeMap<>();
            String token = null;
            do {
                JsonNode page = token == null
                        ? get("/api/2.0/mlflow/metrics/get-history", "run_id", run.id(), "metric_key", key,
                                "max_results", "25000")
                        : get("/api/2.0/mlflow/metrics/get-history", "run_id", run.id(), "metric_key", key,
                                "max_results", "25000", "page_token", token);
                page.path("metrics").forEach(p -> curve.put(p.path("step").asLong(), new MetricPoint(
                        p.path("step").asLong(), p.path("value").asDouble(), p.path("timestamp").asLong())));
                token = page.path("next_page_token").asText(null);
            } while (token != null && !token.isEmpty());
            out.put(key, List.copyOf(curve.values()));
        }
        return out;
    }

    private static Map<String, String> pairs(JsonNode array) {
        Map<String, String> out = new TreeMap<>();
        array.forEach(p -> out.put(p.path("key").asText(), p.path("value").asText()));
        return out;
    }

    private JsonNode get(String path, String... query) {
        StringBuilder q = new StringBuilder();
        for (int i = 0; i < query.length; i += 2) {
            q.append(i == 0 ? "?" : "&").append(query[i]).append('=')
                    .append(URLEncoder.encode(query[i + 1], StandardCharsets.UTF_8));
        }
        return send(HttpRequest.newBuilder(URI.create(uri + path + q)).timeout(TIMEOUT).GET().build(), path);
    }

    private JsonNode post(String path, JsonNode body) {
        return send(HttpRequest.newBuilder(URI.create(uri + path)).timeout(TIMEOUT)
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body.toString())).build(), path);
    }

    private JsonNode send(HttpRequest request, String path) {
        HttpResponse<String> r;
        try {
            r = http.send(request, HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            throw new RunStoreException("MLflow server " + uri + " is not reachable (" + path + "): " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new RunStoreException("interrupted while reading " + uri + path, e);
        }
        if (r.statusCode() != 200) {
            throw new RunStoreException("MLflow server " + uri + ": " + path + " answered HTTP " + r.statusCode() + ": "
                    + r.body());
        }
        try {
            return JSON.readTree(r.body());
        } catch (IOException e) {
            throw new RunStoreException("MLflow server " + uri + ": " + path + " answered no JSON: " + e.getMessage(), e);
        }
    }
}
