package org.distillery.tracking;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.distillery.core.testing.RepoFixtures;

/**
 * A real {@code mlflow server} on 127.0.0.1 with a SQLite backend and a local artifact store in a
 * temporary folder, started from the checkout's .venv. Tests read what was logged back through the
 * REST API. Stopping and starting again on the same port and store stands for a server outage.
 */
public final class MlflowServer implements AutoCloseable {
    private final Path dir;
    private final int port;
    private Process process;
    private final HttpClient http = HttpClient.newHttpClient();
    private static final ObjectMapper JSON = new ObjectMapper();

    public MlflowServer(Path dir) throws IOException {
        this.dir = dir;
        try (ServerSocket s = new ServerSocket(0)) {
            this.port = s.getLocalPort();
        }
    }

    /** What the server printed, its access log included. */
    public String log() throws IOException {
        return Files.readString(dir.resolve("server.log"));
    }

    public String uri() {
        return "http://127.0.0.1:" + port;
    }

    public MlflowServer start() throws IOException, InterruptedException {
        Path python = Path.of(RepoFixtures.python());
        Path mlflow = python.resolveSibling("mlflow");
        Files.createDirectories(dir.resolve("artifacts"));
        ProcessBuilder pb = new ProcessBuilder(mlflow.toString(), "server",
                "--backend-store-uri", "sqlite:///" + dir.resolve("mlflow.db"),
                "--artifacts-destination", dir.resolve("artifacts").toString(),
                "--host", "127.0.0.1", "--port", String.valueOf(port), "--workers", "1")
                .redirectErrorStream(true).redirectOutput(dir.resolve("server.log").toFile());
        pb.environment().put("MLFLOW_HOME", dir.toString());
        process = pb.start();
        long deadline = System.nanoTime() + Duration.ofSeconds(90).toNanos();
        while (System.nanoTime() < deadline) {
            if (!process.isAlive()) {
                throw new IllegalStateException("mlflow server exited: " + Files.readString(dir.resolve("server.log")));
            }
            try {
                HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(uri() + "/health")).build(),
                        HttpResponse.BodyHandlers.ofString());
                if (r.statusCode() == 200) {
                    return this;
                }
            } catch (IOException e) {
                // not listening yet
            }
            Thread.sleep(250);
        }
        throw new IllegalStateException("mlflow server did not start in 90 s: " + Files.readString(dir.resolve("server.log")));
    }

    public void stop() throws InterruptedException {
        if (process != null) {
            process.descendants().forEach(ProcessHandle::destroy);
            process.destroy();
            process.waitFor();
            process = null;
        }
    }

    public JsonNode get(String path, String... query) throws IOException, InterruptedException {
        HttpResponse<String> r = http.send(request(path, query), HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() != 200) {
            throw new IllegalStateException(path + ": HTTP " + r.statusCode() + " " + r.body());
        }
        return JSON.readTree(r.body());
    }

    public String getText(String path, String... query) throws IOException, InterruptedException {
        return http.send(request(path, query), HttpResponse.BodyHandlers.ofString()).body();
    }

    public byte[] getBytes(String path, String... query) throws IOException, InterruptedException {
        HttpResponse<byte[]> r = http.send(request(path, query), HttpResponse.BodyHandlers.ofByteArray());
        if (r.statusCode() != 200) {
            throw new IllegalStateException(path + ": HTTP " + r.statusCode());
        }
        return r.body();
    }

    /** A GET of {@code path} with query pairs (name, value, name, value, ...). */
    private HttpRequest request(String path, String... query) {
        StringBuilder q = new StringBuilder();
        for (int i = 0; i < query.length; i += 2) {
            q.append(i == 0 ? "?" : "&").append(query[i]).append('=')
                    .append(URLEncoder.encode(query[i + 1], StandardCharsets.UTF_8));
        }
        return HttpRequest.newBuilder(URI.create(uri() + path + q)).build();
    }

    public List<Double> metricHistory(String runId, String key) throws IOException, InterruptedException {
        JsonNode n = get("/api/2.0/mlflow/metrics/get-history", "run_id", runId, "metric_key", key, "max_results", "25000");
        List<Double> out = new java.util.ArrayList<>();
        n.path("metrics").forEach(m -> out.add(m.get("value").asDouble()));
        return out;
    }

    @Override
    public void close() throws InterruptedException {
        stop();
    }
}
