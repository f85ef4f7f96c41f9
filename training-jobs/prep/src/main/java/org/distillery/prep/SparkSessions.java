package org.distillery.prep;

import java.io.PrintStream;
import java.net.InetAddress;
import java.net.URI;
import java.util.LinkedHashMap;
import java.util.Map;
import org.apache.spark.SparkConf;
import org.apache.spark.sql.SparkSession;
import org.distillery.core.DistilleryException;

/**
 * Opens the Spark session a Distillery job runs in, with the submitter's settings first.
 *
 * <p>Where the master comes from, strongest first (the one place this is decided):
 * <ol>
 *   <li>{@code --master} on the {@code distillery} command line;</li>
 *   <li>the submitter's {@link SparkConf}: {@code spark-submit --master}, {@code --conf spark.master=...},
 *       {@code spark-defaults.conf}, or any launcher that sets {@code spark.master} as a system property;</li>
 *   <li>the spec's {@code spark.master};</li>
 *   <li>{@code local[*]}.</li>
 * </ol>
 * Every other setting Distillery wants (shuffle partitions from the spec, no console progress bar, the
 * driver on 127.0.0.1 for a loopback master, no UI for a local master) is filled in only where the
 * submitter left it unset, so the UI and {@code spark.eventLog.*} work on a cluster as in any Spark job.
 * A spec master that loses is reported once on stderr.
 */
public final class SparkSessions {
    /** The default master when neither the command line, the submitter nor the spec names one. */
    public static final String DEFAULT_MASTER = "local[*]";

    private SparkSessions() {
    }

    /** What the job asks of Spark; {@code cliMaster} and {@code specMaster} may be null (unset). */
    public record Request(String appName, String cliMaster, String specMaster, int partitions,
                          Map<String, String> defaults) {
        public Request {
            defaults = Map.copyOf(defaults);
        }

        public Request(String appName, String cliMaster, String specMaster, int partitions) {
            this(appName, cliMaster, specMaster, partitions, Map.of());
        }
    }

    /** The master a job runs on and who chose it. */
    public record Master(String url, String source) {
        static final String SUBMITTER = "the submitter's SparkConf";

        /** Whether the submitter chose it: then the session takes it from the SparkConf, as it is. */
        boolean fromSubmitter() {
            return source.equals(SUBMITTER);
        }
    }

    /** Tests and benchmarks: {@code master} as if given on the command line. */
    public static SparkSession open(String master, String appName, int partitions) {
        return open(new Request(appName, master, null, partitions), System.err);
    }

    /** As {@link #open(String, String, int)}, with settings filled in where unset (spark.jars, executor memory, ...). */
    public static SparkSession open(String master, String appName, int partitions, Map<String, String> defaults) {
        return open(new Request(appName, master, null, partitions, defaults), System.err);
    }

    public static SparkSession open(Request request, PrintStream notes) {
        // spark-submit hands its settings to the driver as system properties: new SparkConf(true) reads them.
        SparkConf submitted = new SparkConf(true);
        Master master = master(request.cliMaster(), setting(submitted, "spark.master"), request.specMaster());
        if (request.specMaster() != null && !request.specMaster().equals(master.url())) {
            notes.println("note: the spec's spark.master " + request.specMaster() + " is overridden by " + master.url()
                    + " (" + master.source() + ")");
        }
        Map<String, String> fill = settings(request, master.url());
        SparkSession.Builder b = SparkSession.builder();
        if (!master.fromSubmitter()) {
            b.master(master.url());
        }
        String name = setting(submitted, "spark.app.name");
        // spark-submit names an application after its main class when --name is not given: ours is more telling.
        if (name == null || name.startsWith("org.distillery.")) {
            b.appName(request.appName());
        }
        fill.forEach((k, v) -> {
            if (!submitted.contains(k)) {
                b.config(k, v);
            }
        });
        b.config(KRYO_REGISTRATOR, registrators(setting(submitted, KRYO_REGISTRATOR)));
        requireReachable(master.url());
        SparkSession session = b.getOrCreate();
        ExecutorWatch.watch(session.sparkContext());
        return session;
    }

    /**
     * Fails at once, naming the master, when no standalone master listens at a {@code spark://} URL: Spark
     * itself retries registration for a minute, then stops the context with a less telling error.
     */
    static void requireReachable(String master) {
        if (!master.startsWith("spark://")) {
            return;
        }
        String refused = null;
        for (String hostPort : master.substring("spark://".length()).split(",")) {
            URI uri = URI.create("spark://" + hostPort.strip());
            if (uri.getHost() == null) {
                return; // a form this check does not read: leave it to Spark
            }
            int port = uri.getPort() > 0 ? uri.getPort() : 7077;
            try (java.net.Socket s = new java.net.Socket()) {
                s.connect(new java.net.InetSocketAddress(uri.getHost(), port), 5000);
                return;
            } catch (java.io.IOException e) {
                refused = uri.getHost() + ":" + port + " (" + e.getMessage() + ")";
            }
        }
        throw new DistilleryException(master + ": no Spark master answers at " + refused
                + "; start the master, or correct --master / spark-submit --master / spark.master");
    }

    /** The submitter's Kryo registrators, and ours: needed whichever serializer runs (a cluster may choose Kryo). */
    static String registrators(String submitted) {
        String ours = SparkKryo.class.getName();
        if (submitted == null || submitted.isBlank()) {
            return ours;
        }
        return java.util.Arrays.asList(submitted.split("\\s*,\\s*")).contains(ours) ? submitted : submitted + "," + ours;
    }

    private static String setting(SparkConf conf, String key) {
        return conf.contains(key) ? conf.get(key) : null;
    }

    static final String KRYO_REGISTRATOR = "spark.kryo.registrator";

    /** The precedence above, as a function. */
    public static Master master(String cliMaster, String submitterMaster, String specMaster) {
        if (cliMaster != null && !cliMaster.isBlank()) {
            return new Master(cliMaster, "--master");
        }
        if (submitterMaster != null && !submitterMaster.isBlank()) {
            return new Master(submitterMaster, Master.SUBMITTER);
        }
        if (specMaster != null && !specMaster.isBlank()) {
            return new Master(specMaster, "the spec's spark.master");
        }
        return new Master(DEFAULT_MASTER, "the default");
    }

    /** The settings Distillery fills in where unset, for a job on {@code master}. */
    static Map<String, String> settings(Request request, String master) {
        Map<String, String> s = new LinkedHashMap<>();
        // Progress is reported by the job's own events; Spark's console bar would interleave with them.
        s.put("spark.ui.showConsoleProgress", "false");
        s.put("spark.sql.shuffle.partitions", String.valueOf(request.partitions()));
        s.put("spark.default.parallelism", String.valueOf(request.partitions()));
        s.put("spark.hadoop.mapreduce.input.fileinputformat.input.dir.recursive", "true");
        if (master.startsWith("local")) {
            // A local run is one command of a workbench or a script: no web UI port to claim.
            s.put("spark.ui.enabled", "false");
        }
        if (isLoopback(master)) {
            // Left alone, Spark binds the driver to the host's non-loopback address.
            s.put("spark.driver.host", "127.0.0.1");
            s.put("spark.driver.bindAddress", "127.0.0.1");
        }
        s.putAll(request.defaults());
        return s;
    }

    /** Whether every process of {@code master} runs on this host: local mode, or a master on a loopback address. */
    public static boolean isLoopback(String master) {
        if (master.startsWith("local")) {
            return true;
        }
        try {
            URI uri = URI.create(master);
            return uri.getHost() != null && InetAddress.getByName(uri.getHost()).isLoopbackAddress();
        } catch (IllegalArgumentException | java.net.UnknownHostException e) {
            return false;
        }
    }
}
