package org.distillery.workbench.core.engine;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Where the engine is and how jobs run: the workbench's preferences as data, validated in one place.
 * The product carries no engine code; it runs {@code bin/distillery} of a checkout (or an installed
 * {@code distillery} launcher) as a process.
 *
 * @param engine      a Distillery checkout (holding {@code bin/distillery}) or a {@code distillery} launcher
 * @param workDir     the engine's {@code --work-dir}: datasets, job outputs and the local run store
 * @param trackingUri an MLflow tracking server ({@code --tracking-uri}); empty for the local run store only
 * @param sparkMaster the Spark master for Spark jobs ({@code --master}); empty for each spec's own
 * @param javaHome    the JDK the engine runs on ({@code JAVA_HOME}); empty for the workbench's environment
 * @param backend     the ND4J backend the engine must run on
 */
public record EngineSettings(Path engine, Path workDir, String trackingUri, String sparkMaster, Path javaHome,
                             Backend backend) {

    /** ND4J's backends; the engine carries the one its build chose (the {@code cuda} Maven profile). */
    public enum Backend {
        CPU, CUDA;

        public String key() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    public static final String ENGINE = "engine";
    public static final String WORK_DIR = "workDir";
    public static final String TRACKING_URI = "trackingUri";
    public static final String SPARK_MASTER = "sparkMaster";
    public static final String JAVA_HOME = "javaHome";
    public static final String BACKEND = "backend";

    public EngineSettings {
        trackingUri = trackingUri == null ? "" : trackingUri.strip();
        sparkMaster = sparkMaster == null ? "" : sparkMaster.strip();
        backend = backend == null ? Backend.CPU : backend;
    }

    /**
     * Defaults for a product started from a checkout's build: the first folder above {@code installed}
     * that holds {@code bin/distillery}, its {@code work/} folder, and whatever {@code MLFLOW_TRACKING_URI}
     * says. Without a checkout above it, {@code DISTILLERY_HOME} or the user's home.
     */
    public static EngineSettings defaults(Path installed, Map<String, String> env) {
        Path checkout = null;
        for (Path p = installed == null ? null : installed.toAbsolutePath(); p != null; p = p.getParent()) {
            if (Files.isRegularFile(p.resolve("bin").resolve("distillery"))) {
                checkout = p;
                break;
            }
        }
        if (checkout == null) {
            String home = env.get("DISTILLERY_HOME");
            checkout = Path.of(home != null ? home : System.getProperty("user.home"));
        }
        String work = env.get("DISTILLERY_WORK_DIR");
        return new EngineSettings(checkout, work != null ? Path.of(work) : checkout.resolve("work"),
                env.getOrDefault("MLFLOW_TRACKING_URI", ""), "", null, Backend.CPU);
    }

    /** Reads settings stored as strings (a preference node), keeping {@code fallback}'s for absent keys. */
    public static EngineSettings fromMap(Map<String, String> m, EngineSettings fallback) {
        String backend = m.get(BACKEND);
        Backend b = fallback.backend();
        if (backend != null && !backend.isBlank()) {
            try {
                b = Backend.valueOf(backend.strip().toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                b = fallback.backend(); // validate() reports a bad value typed in the dialog, not a stored one
            }
        }
        return new EngineSettings(required(m.get(ENGINE), fallback.engine()), required(m.get(WORK_DIR), fallback.workDir()),
                m.getOrDefault(TRACKING_URI, fallback.trackingUri()), m.getOrDefault(SPARK_MASTER, fallback.sparkMaster()),
                path(m.get(JAVA_HOME), fallback.javaHome()), b);
    }

    /** Whether {@code s} is a Spark master URL: local[*], local[N], spark://..., yarn or k8s://... */
    public static boolean isMasterUrl(String s) {
        return s.matches("local(\\[(\\*|\\d+)(,\\d+)?])?|(spark|yarn|k8s)(://.*)?");
    }

    public Map<String, String> toMap() {
        Map<String, String> m = new LinkedHashMap<>();
        m.put(ENGINE, engine.toString());
        m.put(WORK_DIR, workDir.toString());
        m.put(TRACKING_URI, trackingUri);
        m.put(SPARK_MASTER, sparkMaster);
        m.put(JAVA_HOME, javaHome == null ? "" : javaHome.toString());
        m.put(BACKEND, backend.key());
        return m;
    }

    /** The program to run: the checkout's {@code bin/distillery}, or the launcher itself. */
    public Path launcher() {
        return Files.isDirectory(engine) ? engine.resolve("bin").resolve("distillery") : engine;
    }

    /** The variables every engine process gets: the JDK to run on and the ND4J backend it must find. */
    public Map<String, String> environment() {
        Map<String, String> env = new LinkedHashMap<>();
        if (javaHome != null) {
            env.put("JAVA_HOME", javaHome.toString());
            env.put("PATH", javaHome.resolve("bin") + java.io.File.pathSeparator
                    + System.getenv().getOrDefault("PATH", ""));
        }
        String opts = System.getenv().getOrDefault("DISTILLERY_JAVA_OPTS", "");
        env.put("DISTILLERY_JAVA_OPTS", (opts.isBlank() ? "" : opts.strip() + " ") + "-Ddistillery.backend="
                + backend.key());
        return env;
    }

    /** What is wrong with these settings, one message per field naming it; empty when they are usable. */
    public List<String> validate() {
        List<String> problems = new ArrayList<>();
        Path launcher = launcher();
        if (!Files.isRegularFile(launcher) || !Files.isExecutable(launcher)) {
            problems.add(ENGINE + ": " + engine + " is neither a Distillery checkout (with an executable "
                    + "bin/distillery) nor a distillery launcher");
        }
        if (Files.exists(workDir) && !Files.isDirectory(workDir)) {
            problems.add(WORK_DIR + ": " + workDir + " is a file, expected a folder (created when missing)");
        }
        if (!trackingUri.isEmpty() && !trackingUri.matches("(?i)(https?|file|databricks)(:.*)")) {
            problems.add(TRACKING_URI + ": '" + trackingUri + "' is no MLflow tracking URI, expected "
                    + "http://host:port (or empty for the local run store)");
        }
        if (!sparkMaster.isEmpty() && !isMasterUrl(sparkMaster)) {
            problems.add(SPARK_MASTER + ": '" + sparkMaster + "' is no Spark master URL, expected local[*], "
                    + "spark://host:port, yarn or k8s://... (or empty for each spec's own)");
        }
        if (javaHome != null && !Files.isExecutable(javaHome.resolve("bin").resolve("java"))) {
            problems.add(JAVA_HOME + ": " + javaHome + " holds no bin/java, expected a JDK 17 folder (or empty)");
        }
        return problems;
    }

    private static Path path(String s, Path fallback) {
        return s == null ? fallback : s.isBlank() ? null : Path.of(s.strip());
    }

    private static Path required(String s, Path fallback) {
        return s == null || s.isBlank() ? fallback : Path.of(s.strip());
    }
}
