package org.distillery.tracking;

import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.distillery.core.DistilleryException;
import org.distillery.core.runs.LocalRunStore;
import org.mlflow.api.proto.Service;
import org.mlflow.tracking.MlflowClient;
import org.mlflow.tracking.MlflowClientException;

/**
 * Replays a run of the {@link LocalRunStore} into an MLflow tracking server through the MLflow Java
 * client, from where the last sync stopped: creates the experiment and run (nested under its
 * parent's MLflow run), logs params once, tags, new metrics in batches, new artifacts, and the final
 * status. The store records each step's progress, so a sync interrupted by a server going down
 * resumes without duplicates. Artifacts are uploaded in pure Java through the server's artifact proxy
 * ({@code PUT /api/2.0/mlflow-artifacts/artifacts/...}): the client's logArtifact needs Python.
 */
public final class MlflowSync implements AutoCloseable {
    /** MLflow's limits per log-batch request. */
    private static final int MAX_METRICS = 1000;
    private static final int MAX_PARAMS = 100;
    /** The tag that ties a server's run to its run in the local store (a run id: hex digits, safe in a filter). */
    static final String LOCAL_RUN_TAG = "distillery.local_run_id";

    private final String uri;
    private final LocalRunStore store;
    private final MlflowClient client;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    public MlflowSync(String uri, LocalRunStore store) {
        this.uri = uri.replaceAll("/+$", "");
        this.store = store;
        this.client = new MlflowClient(this.uri);
    }

    public String uri() {
        return uri;
    }

    /**
     * Brings the server up to date with the run; returns the updated description.
     *
     * @throws MlflowClientException or {@link DistilleryException} when the server is unreachable or refuses
     */
    public synchronized LocalRunStore.Meta sync(LocalRunStore.Meta meta) {
        meta = store.reload(meta);
        String runId = meta.mlflowRunId();
        if (runId == null || !uri.equals(meta.mlflowUri())) {
            String created = createRun(meta);
            meta = store.update(meta, m -> m.withSync(uri, created, 0, List.of(), 0));
            runId = created;
        }
        String run = runId;
        List<Service.RunTag> tags = new ArrayList<>();
        for (Map.Entry<String, String> e : store.tags(meta).entrySet()) {
            tags.add(Service.RunTag.newBuilder().setKey(e.getKey()).setValue(e.getValue()).build());
        }
        Map<String, String> allParams = store.params(meta);
        if (!meta.syncedParams().containsAll(allParams.keySet())) {
            List<Service.Param> params = new ArrayList<>();
            for (Map.Entry<String, String> e : allParams.entrySet()) {
                if (!meta.syncedParams().contains(e.getKey())) { // MLflow params are write-once
                    params.add(Service.Param.newBuilder().setKey(e.getKey()).setValue(e.getValue()).build());
                }
            }
            for (int i = 0; i < params.size(); i += MAX_PARAMS) {
                client.logBatch(runId, List.of(), params.subList(i, Math.min(params.size(), i + MAX_PARAMS)), List.of());
            }
            List<String> synced = new ArrayList<>(allParams.keySet());
            meta = store.update(meta, m -> m.withSync(uri, run, m.syncedMetrics(), synced, m.syncedArtifacts()));
        }
        if (!tags.isEmpty()) {
            client.logBatch(runId, List.of(), List.of(), tags);
        }
        List<LocalRunStore.Metric> metrics = store.metrics(meta);
        long done = meta.syncedMetrics();
        while (done < metrics.size()) {
            int end = (int) Math.min(metrics.size(), done + MAX_METRICS);
            List<Service.Metric> batch = new ArrayList<>();
            for (LocalRunStore.Metric m : metrics.subList((int) done, end)) {
                batch.add(Service.Metric.newBuilder().setKey(m.key()).setValue(m.value()).setStep(m.step())
                        .setTimestamp(m.timestamp()).build());
            }
            client.logBatch(runId, batch, List.of(), List.of());
            done = end;
            long metricsDone = done;
            meta = store.update(meta, m -> m.withSync(uri, run, metricsDone, m.syncedParams(), m.syncedArtifacts()));
        }
        List<String> artifacts = store.loggedArtifacts(meta);
        if (meta.syncedArtifacts() < artifacts.size()) {
            String root = client.getRun(runId).getInfo().getArtifactUri();
            for (int i = meta.syncedArtifacts(); i < artifacts.size(); i++) {
                upload(root, store.artifactsDir(meta).resolve(artifacts.get(i)), artifacts.get(i));
                int artifactsDone = i + 1;
                meta = store.update(meta, m -> m.withSync(uri, run, m.syncedMetrics(), m.syncedParams(), artifactsDone));
            }
        }
        if (!"RUNNING".equals(meta.status())) {
            client.setTerminated(runId, Service.RunStatus.valueOf(meta.status()),
                    meta.endTime() == null ? System.currentTimeMillis() : meta.endTime());
        }
        return meta;
    }

    /**
     * The experiment's id, made when it does not exist yet. Looked up by a search, which answers "none" for a new
     * name: the client's get-by-name answers 404, which it logs as a warning ("Rate limit exceeded") and retries.
     */
    private String experimentId(String name) {
        if (name.contains("'") && name.contains("\"")) {
            // no quoting that MLflow's filter grammar reads holds both: the lookup that may warn
            return client.getExperimentByName(name).map(Service.Experiment::getExperimentId)
                    .orElseGet(() -> client.createExperiment(name));
        }
        String quoted = name.contains("'") ? "\"" + name + "\"" : "'" + name + "'";
        return client.searchExperiments("name = " + quoted, Service.ViewType.ALL, 1, java.util.List.of())
                .getItems().stream().findFirst().map(Service.Experiment::getExperimentId)
                .orElseGet(() -> client.createExperiment(name));
    }

    private String createRun(LocalRunStore.Meta meta) {
        String experimentId = experimentId(meta.experiment());
        // A sync stopped after the server made the run, before the store recorded its id, made it already: reuse it
        // (found by the local run id it is tagged with), else every retry would leave another copy on the server.
        List<Service.RunInfo> made = client.searchRuns(List.of(experimentId),
                "tags.`" + LOCAL_RUN_TAG + "` = '" + meta.runId() + "'");
        if (!made.isEmpty()) {
            return made.get(0).getRunId();
        }
        Service.CreateRun.Builder req = Service.CreateRun.newBuilder().setExperimentId(experimentId)
                .setStartTime(meta.startTime());
        if (meta.runName() != null) {
            req.setRunName(meta.runName());
        }
        if (meta.parentRunId() != null) {
            LocalRunStore.Meta parent = store.find(meta.parentRunId());
            if (parent.mlflowRunId() == null || !uri.equals(parent.mlflowUri())) {
                parent = sync(parent);
            }
            req.addTags(Service.RunTag.newBuilder().setKey("mlflow.parentRunId").setValue(parent.mlflowRunId()));
        }
        req.addTags(Service.RunTag.newBuilder().setKey(LOCAL_RUN_TAG).setValue(meta.runId()));
        return client.createRun(req.build()).getRunId();
    }

    /** PUTs one file to the artifact proxy under the run's {@code mlflow-artifacts:/...} root. */
    private void upload(String artifactRoot, Path file, String relative) {
        String prefix = "mlflow-artifacts:";
        if (!artifactRoot.startsWith(prefix)) {
            throw new DistilleryException("the MLflow server at " + uri + " gives run artifacts the location "
                    + artifactRoot + ", not its artifact proxy (mlflow-artifacts:/): start it with --serve-artifacts");
        }
        String path = artifactRoot.substring(prefix.length()).replaceAll("^/+", "") + "/" + relative;
        StringBuilder encoded = new StringBuilder();
        for (String part : path.split("/")) {
            if (encoded.length() > 0) {
                encoded.append('/');
            }
            encoded.append(URLEncoder.encode(part, StandardCharsets.UTF_8).replace("+", "%20"));
        }
        try {
            HttpRequest req = HttpRequest.newBuilder(URI.create(uri + "/api/2.0/mlflow-artifacts/artifacts/" + encoded))
                    .timeout(Duration.ofMinutes(10))
                    .PUT(HttpRequest.BodyPublishers.ofFile(file)).build();
            HttpResponse<String> res = http.send(req, HttpResponse.BodyHandlers.ofString());
            if (res.statusCode() / 100 != 2) {
                throw new DistilleryException("uploading " + file + " to " + uri + " failed: HTTP " + res.statusCode()
                        + " " + res.body());
            }
        } catch (IOException e) {
            throw new MlflowClientException("cannot upload " + file + " to " + uri + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new MlflowClientException("interrupted while uploading " + file, e);
        }
    }

    @Override
    public void close() {
        client.close();
    }
}
