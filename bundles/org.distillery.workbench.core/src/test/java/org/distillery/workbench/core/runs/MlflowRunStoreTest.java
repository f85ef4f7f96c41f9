package org.distillery.workbench.core.runs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.ServerSocket;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.distillery.core.tracking.RunStatus;
import org.distillery.tracking.MlflowServer;
import org.distillery.tracking.TrackedRun;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A real mlflow server, written to by the engine's tracking (the MLflow Java client), read over REST. */
class MlflowRunStoreTest {
    @TempDir
    Path tmp;

    @Test
    void readsRunsParamsAndCurvesFromAServer() throws Exception {
        try (MlflowServer server = new MlflowServer(tmp.resolve("server")).start()) {
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
