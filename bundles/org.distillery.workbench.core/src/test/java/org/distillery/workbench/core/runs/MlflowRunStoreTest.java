package org.distillery.workbench.core.runs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.ServerSocket;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.distillery.core.tracking.RunStatus;
import org.distillery.tracking.TrackedRun;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A real mlflow server, written to by the engine's tracking (the MLflow Java client), read over REST. */
class MlflowRunStoreTest {
    @TempDir
    Path tmp;

    @Test
    void readsRunsParamsAndCurvesFromAServer() throws Exception {
        try (Server server = new Server(tmp.resolve("server"))) {
            String localId;
            try (TrackedRun run = TrackedRun.open(tmp.resolve("runs"), server.uri(), "kd", "train-teacher", null, null,
                    System.err)) {
                localId = run.runId();
                run.logParams(Map.of("model.n_layer", "4"));
                for (int step = 1; step <= 30; step++) {
                    run.logMetric("train/loss", 10.0 / step, step);
                }
                run.finish(RunStatus.FINISHED);
            }
            MlflowRunStore store = new MlflowRunStore(server.uri() + "/");
            List<RunInfo> runs = store.runs();
            assertEquals(1, runs.size(), runs.toString());
            RunInfo r = runs.get(0);
            assertEquals("kd", r.experiment());
            assertEquals("train-teacher", r.name());
            assertEquals("FINISHED", r.status());
            assertTrue(r.is(localId), "the mirrored run names the local id the job announced: " + r);
            assertEquals("4", store.params(r).get("model.n_layer"));
            var curve = store.metrics(r).get("train/loss");
            assertEquals(30, curve.size());
            assertEquals(10.0 / 7, curve.get(7L), 1e-6);
        }
    }

    /** {@code mlflow server} from the checkout's .venv (bin/test sets it up), SQLite and local artifacts. */
    private static final class Server implements AutoCloseable {
        private final Process process;
        private final int port;

        Server(Path dir) throws Exception {
            try (ServerSocket s = new ServerSocket(0)) {
                port = s.getLocalPort();
            }
            String python = System.getenv().getOrDefault("DISTILLERY_PYTHON",
                    Path.of("").toAbsolutePath().getParent().getParent().resolve(".venv/bin/python").toString());
            java.nio.file.Files.createDirectories(dir.resolve("artifacts"));
            process = new ProcessBuilder(Path.of(python).resolveSibling("mlflow").toString(), "server",
                    "--backend-store-uri", "sqlite:///" + dir.resolve("mlflow.db"), "--artifacts-destination",
                    dir.resolve("artifacts").toString(), "--host", "127.0.0.1", "--port", String.valueOf(port),
                    "--workers", "1").redirectErrorStream(true).redirectOutput(dir.resolve("server.log").toFile()).start();
            java.net.http.HttpClient http = java.net.http.HttpClient.newHttpClient();
            for (int i = 0; i < 360; i++) {
                try {
                    if (http.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create(uri() + "/health")).build(),
                            java.net.http.HttpResponse.BodyHandlers.ofString()).statusCode() == 200) {
                        return;
                    }
                } catch (java.io.IOException e) {
                    // not listening yet
                }
                if (!process.isAlive()) {
                    break;
                }
                Thread.sleep(250);
            }
            close();
            throw new IllegalStateException("mlflow server did not start: "
                    + java.nio.file.Files.readString(dir.resolve("server.log")));
        }

        String uri() {
            return "http://127.0.0.1:" + port;
        }

        @Override
        public void close() throws InterruptedException {
            process.descendants().forEach(ProcessHandle::destroy);
            process.destroy();
            process.waitFor();
        }
    }

    @Test
    void aServerThatIsDownIsNamed() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        RunStoreException e = assertThrows(RunStoreException.class,
                () -> new MlflowRunStore("http://127.0.0.1:" + port).runs());
        assertTrue(e.getMessage().startsWith("MLflow server http://127.0.0.1:" + port + " is not reachable"),
                e.getMessage());
    }
}
