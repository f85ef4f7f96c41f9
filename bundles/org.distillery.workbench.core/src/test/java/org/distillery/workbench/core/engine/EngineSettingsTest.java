package org.distillery.workbench.core.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class EngineSettingsTest {
    @TempDir
    Path tmp;

    private Path checkout() throws Exception {
        Path launcher = tmp.resolve("checkout/bin/distillery");
        Files.createDirectories(launcher.getParent());
        Files.writeString(launcher, "#!/bin/sh\n");
        Files.setPosixFilePermissions(launcher, PosixFilePermissions.fromString("rwxr-xr-x"));
        return tmp.resolve("checkout");
    }

    @Test
    void aProductBuiltInACheckoutFindsItsEngine() throws Exception {
        Path checkout = checkout();
        Path product = checkout.resolve("product/target/products/org.distillery.workbench.product/linux/gtk/x86_64");
        Files.createDirectories(product);
        EngineSettings s = EngineSettings.defaults(product, Map.of("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000"));
        assertEquals(checkout, s.engine());
        assertEquals(checkout.resolve("work"), s.workDir());
        assertEquals(checkout.resolve("bin/distillery"), s.launcher());
        assertEquals("http://127.0.0.1:5000", s.trackingUri());
        assertEquals(List.of(), s.validate());
        EngineSettings elsewhere = EngineSettings.defaults(tmp.resolve("nowhere"), Map.of("DISTILLERY_HOME",
                checkout.toString(), "DISTILLERY_WORK_DIR", "/data/work"));
        assertEquals(checkout, elsewhere.engine());
        assertEquals(Path.of("/data/work"), elsewhere.workDir());
    }

    @Test
    void storedStringsRoundTripAndAbsentKeysKeepTheDefaults() throws Exception {
        EngineSettings d = EngineSettings.defaults(checkout(), Map.of());
        EngineSettings s = new EngineSettings(d.engine(), tmp.resolve("w"), "http://h:1", "spark://m:7077",
                Path.of("/usr/lib/jvm/java-17"), EngineSettings.Backend.CUDA);
        assertEquals(s, EngineSettings.fromMap(s.toMap(), d));
        assertEquals("cuda", s.toMap().get(EngineSettings.BACKEND));
        assertEquals(d, EngineSettings.fromMap(Map.of(), d));
        EngineSettings partial = EngineSettings.fromMap(Map.of(EngineSettings.SPARK_MASTER, "local[2]",
                EngineSettings.JAVA_HOME, "", EngineSettings.BACKEND, "tpu"), d);
        assertEquals("local[2]", partial.sparkMaster());
        assertEquals(null, partial.javaHome());
        assertEquals(EngineSettings.Backend.CPU, partial.backend());
    }

    @Test
    void eachBadFieldIsNamedWithWhatWasExpected() throws Exception {
        Files.writeString(tmp.resolve("file"), "x");
        EngineSettings bad = new EngineSettings(tmp.resolve("no-engine"), tmp.resolve("file"), "127.0.0.1:5000",
                "spark:/m", tmp, EngineSettings.Backend.CPU);
        List<String> problems = bad.validate();
        assertEquals(5, problems.size(), problems.toString());
        assertTrue(problems.get(0).startsWith("engine: " + tmp.resolve("no-engine") + " is neither a Distillery checkout"));
        assertTrue(problems.get(1).startsWith("workDir: " + tmp.resolve("file") + " is a file"));
        assertTrue(problems.get(2).startsWith("trackingUri: '127.0.0.1:5000' is no MLflow tracking URI"));
        assertTrue(problems.get(3).startsWith("sparkMaster: 'spark:/m' is no Spark master URL"));
        assertTrue(problems.get(4).startsWith("javaHome: " + tmp + " holds no bin/java"));
        for (String master : List.of("local", "local[*]", "local[4]", "local[4,2]", "spark://127.0.0.1:7077", "yarn")) {
            assertEquals(List.of(), new EngineSettings(checkout(), tmp, "", master, null, null).validate(), master);
        }
    }
}
