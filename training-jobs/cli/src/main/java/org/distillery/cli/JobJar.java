package org.distillery.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.stream.Stream;
import org.apache.spark.sql.SparkSession;
import org.distillery.core.DistilleryException;
import org.distillery.prep.SparkSessions;

/**
 * The shaded job jar, which executors of a cluster load when the driver is the {@code distillery} command rather than
 * {@code spark-submit} of the jar: the build's, in {@code training-jobs/cli/target} of the checkout.
 */
final class JobJar {
    private JobJar() {
    }

    /** {@code explicit} if given, else the checkout's job jar; an error naming the folder when there is none. */
    static Path find(Path explicit) {
        if (explicit != null) {
            return explicit;
        }
        Path target = Path.of(System.getProperty("distillery.home", "."), "training-jobs/cli/target");
        try (Stream<Path> s = Files.list(target)) {
            return s.filter(p -> p.getFileName().toString().endsWith("-job.jar")).findFirst()
                    .orElseThrow(() -> new DistilleryException(target + ": no job jar for the executors; build it"
                            + " (./mvnw -q -DskipTests install), or spark-submit the job jar"));
        } catch (IOException e) {
            throw new DistilleryException(target + ": no job jar for the executors (" + e.getMessage()
                    + "); build it (./mvnw -q -DskipTests install), or spark-submit the job jar", e);
        }
    }

    /**
     * The command's Spark session, with {@link #executorSettings} for the master it resolves to: without the job jar,
     * a cluster's executors cannot deserialize the job's tasks.
     */
    static SparkSession open(SparkSessions.Request request) {
        String master = SparkSessions.master(request.cliMaster(), System.getProperty("spark.master"),
                request.specMaster()).url();
        Map<String, String> defaults = new LinkedHashMap<>(request.defaults());
        defaults.putAll(executorSettings(master));
        return SparkSessions.open(new SparkSessions.Request(request.appName(), request.cliMaster(),
                request.specMaster(), request.partitions(), defaults), System.err);
    }

    /**
     * What executors on a cluster need when this process is not spark-submit's driver (which ships its jar and
     * flags itself): the job jar in {@code spark.jars} and the JVM flags the build wrote beside it.
     */
    static Map<String, String> executorSettings(String master) {
        boolean submitted = System.getProperty("spark.jars") != null || System.getProperty("spark.submit.deployMode")
                != null;
        if (master.startsWith("local") || submitted) {
            return Map.of();
        }
        Path jar = find(null);
        Path options = jar.resolveSibling("jvm.options");
        String flags;
        try {
            flags = Files.exists(options) ? Files.readString(options).strip() : "--add-modules=jdk.incubator.vector";
        } catch (IOException e) {
            throw new DistilleryException(options + ": cannot read the JVM flags for the executors: " + e.getMessage(),
                    e);
        }
        return Map.of("spark.jars", jar.toUri().toString(), "spark.executor.extraJavaOptions", flags);
    }
}
