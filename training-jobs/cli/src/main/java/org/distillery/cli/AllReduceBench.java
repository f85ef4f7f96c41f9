package org.distillery.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.distillery.core.collective.RingAllReduce;
import org.distillery.core.collective.RingEndpoint;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The ring all-reduce's bus bandwidth (2(N - 1)/N of the buffer moved per rank, over the time of one sum) on
 * loopback, its ranks as threads of this process, against the limit on one machine: a plain copy of the same bytes
 * between two direct buffers, timed in the same run, and the HMAC-SHA256 every message is authenticated with.
 */
@Command(name = "allreduce", description = "Ring all-reduce bus bandwidth on loopback for N ranks and buffer sizes,"
        + " against a plain copy of the same bytes between two direct buffers.")
final class AllReduceBench implements Callable<Integer> {
    @Option(names = "--ranks", split = ",", defaultValue = "2,3,4", description = "rank counts to measure")
    List<Integer> rankCounts;

    @Option(names = "--mb", split = ",", defaultValue = "1,4,16,64,256,512", description = "buffer sizes in MB")
    List<Integer> sizesMb;

    @Option(names = "--repeat", defaultValue = "5", description = "timed sums per case after one warm-up; the median"
            + " is kept")
    int repeat;

    @Option(names = "--bench-dir", defaultValue = "target/bench")
    Path benchDir;

    @Override
    public Integer call() throws Exception {
        ObjectNode figures = BenchCommand.JSON.createObjectNode().put("benchmark", "allreduce")
                .put("transport", "TCP loopback, ranks as threads of one JVM")
                .put("cores", Runtime.getRuntime().availableProcessors()).put("repeat", repeat);
        ArrayNode cases = figures.putArray("cases");
        StringBuilder summary = new StringBuilder("bench allreduce:");
        double worstLarge = Double.MAX_VALUE;
        for (int mb : sizesMb) {
            int floats = mb * (1 << 20) / Float.BYTES;
            double copyGBs = copyBandwidth(floats);
            double macGBs = macBandwidth(floats);
            for (int n : rankCounts) {
                double seconds = medianSum(n, floats);
                double bytes = (double) floats * Float.BYTES;
                double busGBs = 2.0 * (n - 1) / n * bytes / seconds / 1e9;
                double ratio = busGBs / copyGBs;
                if (mb >= 64) {
                    worstLarge = Math.min(worstLarge, ratio);
                }
                cases.addObject().put("ranks", n).put("mb", mb).put("seconds", seconds).put("bus_gb_per_s", busGBs)
                        .put("copy_gb_per_s", copyGBs).put("hmac_sha256_gb_per_s", macGBs).put("ratio", ratio);
                summary.append(String.format(" %d MB x%d %.2f GB/s (copy %.2f, %.2fx);", mb, n, busGBs, copyGBs,
                        ratio));
                System.err.printf("allreduce %d MB, %d ranks: %.2f GB/s bus, copy %.2f GB/s, %.2fx; HMAC-SHA256 of"
                        + " the same bytes on one thread %.2f GB/s%n", mb, n, busGBs, copyGBs, ratio, macGBs);
            }
        }
        figures.put("worst_ratio_64mb_and_above", worstLarge == Double.MAX_VALUE ? null : worstLarge);
        BenchCommand.write(benchDir, "allreduce.json", figures);
        System.out.println(summary + (worstLarge == Double.MAX_VALUE ? ""
                : String.format(" worst at 64 MB and above %.2fx of a copy", worstLarge)));
        return 0;
    }

    /** A plain copy of {@code floats} floats between two direct buffers: GB/s, the best of the repeats. */
    private double copyBandwidth(int floats) {
        ByteBuffer a = ByteBuffer.allocateDirect(floats * Float.BYTES).order(ByteOrder.nativeOrder());
        ByteBuffer b = ByteBuffer.allocateDirect(floats * Float.BYTES).order(ByteOrder.nativeOrder());
        double best = Double.MAX_VALUE;
        for (int i = 0; i <= repeat; i++) { // the first is the warm-up
            a.clear();
            b.clear();
            long t0 = System.nanoTime();
            b.put(a);
            double s = (System.nanoTime() - t0) / 1e9;
            if (i > 0) {
                best = Math.min(best, s);
            }
        }
        return (double) floats * Float.BYTES / best / 1e9;
    }

    /**
     * HMAC-SHA256 over {@code floats} floats in a direct buffer, on one thread: GB/s, the best of the repeats. Every
     * message of the ring is tagged by its sender and checked by its receiver, so this bounds what authentication
     * costs a sum.
     */
    private double macBandwidth(int floats) throws java.security.GeneralSecurityException {
        ByteBuffer a = ByteBuffer.allocateDirect(floats * Float.BYTES).order(ByteOrder.nativeOrder());
        javax.crypto.Mac mac = javax.crypto.Mac.getInstance("HmacSHA256");
        mac.init(new javax.crypto.spec.SecretKeySpec(RingEndpoint.newSecret(), "HmacSHA256"));
        double best = Double.MAX_VALUE;
        for (int i = 0; i <= repeat; i++) { // the first is the warm-up
            a.clear();
            long t0 = System.nanoTime();
            mac.update(a);
            mac.doFinal();
            double s = (System.nanoTime() - t0) / 1e9;
            if (i > 0) {
                best = Math.min(best, s);
            }
        }
        return (double) floats * Float.BYTES / best / 1e9;
    }

    /** The median time of one sum of {@code floats} floats over {@code n} ranks (threads on loopback). */
    private double medianSum(int n, int floats) throws Exception {
        List<RingEndpoint> endpoints = new ArrayList<>();
        List<InetSocketAddress> addresses = new ArrayList<>();
        for (int r = 0; r < n; r++) {
            endpoints.add(RingEndpoint.listen(InetAddress.getLoopbackAddress()));
            addresses.add(endpoints.get(r).address());
        }
        byte[] secret = RingEndpoint.newSecret();
        CyclicBarrier together = new CyclicBarrier(n);
        ExecutorService pool = Executors.newFixedThreadPool(n);
        try {
            List<Future<double[]>> times = new ArrayList<>();
            for (int r = 0; r < n; r++) {
                int rank = r;
                times.add(pool.submit(() -> {
                    FloatBuffer data = ByteBuffer.allocateDirect(floats * Float.BYTES).order(ByteOrder.nativeOrder())
                            .asFloatBuffer();
                    double[] t = new double[repeat + 1];
                    try (RingAllReduce ring = endpoints.get(rank).join(rank, addresses, secret,
                            RingAllReduce.Settings.defaults())) {
                        for (int i = 0; i <= repeat; i++) {
                            together.await(); // every rank starts each sum at once, as after a training step
                            long t0 = System.nanoTime();
                            data.clear();
                            ring.sum(data);
                            t[i] = (System.nanoTime() - t0) / 1e9;
                        }
                    }
                    return t;
                }));
            }
            double[] slowest = new double[repeat + 1];
            for (Future<double[]> f : times) {
                double[] t = f.get();
                for (int i = 0; i < t.length; i++) {
                    slowest[i] = Math.max(slowest[i], t[i]); // a sum is done when its last rank is
                }
            }
            double[] timed = Arrays.copyOfRange(slowest, 1, slowest.length);
            Arrays.sort(timed);
            return timed[timed.length / 2];
        } finally {
            pool.shutdownNow();
        }
    }
}
