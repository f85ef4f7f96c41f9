package org.distillery.prep;

import java.net.InetAddress;
import java.net.URI;
import org.apache.spark.sql.SparkSession;

/**
 * Opens the Spark session a Distillery job runs in. The master comes from the command line or the
 * spec ({@code local[*]} by default). For a local master, or a cluster master on a loopback address,
 * the driver binds to 127.0.0.1: left alone, Spark picks the host's non-loopback address.
 */
public final class SparkSessions {
    private SparkSessions() {
    }

    public static SparkSession open(String master, String appName, int partitions) {
        return open(master, appName, partitions, java.util.Map.of());
    }

    /** As {@link #open(String, String, int)}, with extra Spark settings (spark.jars, executor memory, ...). */
    public static SparkSession open(String master, String appName, int partitions, java.util.Map<String, String> conf) {
        SparkSession.Builder b = SparkSession.builder()
                .appName(appName)
                .master(master)
                .config("spark.ui.enabled", "false")
                .config("spark.ui.showConsoleProgress", "false")
                .config("spark.sql.shuffle.partitions", String.valueOf(partitions))
                .config("spark.default.parallelism", String.valueOf(partitions))
                .config("spark.hadoop.mapreduce.input.fileinputformat.input.dir.recursive", "true");
        conf.forEach(b::config);
        if (isLoopback(master)) {
            b.config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1");
        }
        return b.getOrCreate();
    }

    static boolean isLoopback(String master) {
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
