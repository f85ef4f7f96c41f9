package org.distillery.workbench.ui;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Cold start of the workbench to its first painted window, against the floor of a bare SWT shell of the
 * same size on the same JVM and SWT jar, in one run under Xvfb. Each start is a fresh process (and, for
 * the workbench, a fresh workspace and work dir), timed from process start until the process reports
 * its first paint on stdout; one start of each is discarded first to warm the page cache. Figures go
 * to {@code target/bench/workbench-cold-start.json}; the summary line gives medians and their ratio.
 *
 * <p>Run it with {@code bin/bench-workbench [runs]} (default 5 runs of each).
 */
public final class ColdStartBench {
    static final long GOAL_MS = 3000;

    private ColdStartBench() {
    }

    public static void main(String[] args) throws Exception {
        int runs = args.length > 0 ? Integer.parseInt(args[0]) : 5;
        Path tmp = Files.createTempDirectory("workbench-cold-start");
        try {
            System.exit(run(runs, tmp));
        } finally {
            delete(tmp);
        }
    }

    static int run(int runs, Path tmp) throws Exception {
        Path product = ProductUnderXvfb.installWithDriver(tmp.resolve("product"));
        Path java = java();
        Path swt;
        try (Stream<Path> jars = Files.list(product.resolve("plugins"))) {
            swt = jars.filter(p -> p.getFileName().toString().startsWith("org.eclipse.swt.gtk.linux.x86_64_"))
                    .findFirst().orElseThrow(() -> new IllegalStateException("no SWT jar in " + product));
        }
        Path bare = compileBareShell(java, swt, tmp.resolve("bare"));
        List<Long> productMs = new ArrayList<>();
        List<Long> bareMs = new ArrayList<>();
        List<Long> productUptime = new ArrayList<>();
        List<Long> bareUptime = new ArrayList<>();
        try (ProductUnderXvfb.Xvfb xvfb = ProductUnderXvfb.Xvfb.start(tmp.resolve("xvfb.log"))) {
            for (int i = -1; i < runs; i++) { // run -1 warms the page cache and is not counted
                long[] b = start(List.of(java.toString(), "-cp", bare + ":" + swt, "BareShell"), xvfb, null,
                        "bare.firstpaint ");
                ProcessBuilder pb = new ProcessBuilder(product.resolve("distillery-workbench").toString());
                pb.environment().put("DISTILLERY_WORKBENCH_JAVA", java.toString());
                pb.environment().put("DISTILLERY_WORKBENCH_DATA", tmp.resolve("workspace" + i).toString());
                pb.environment().put("DISTILLERY_WORK_DIR", tmp.resolve("work" + i).toString());
                pb.environment().put("DISTILLERY_HOME", ProductUnderXvfb.ROOT.toString());
                pb.environment().put("DISTILLERY_WORKBENCH_VMARGS", "-Ddistillery.uitest.firstpaint=true");
                long[] p = start(pb.command(), xvfb, pb, "distillery.firstpaint ");
                if (i >= 0) {
                    bareMs.add(b[0]);
                    bareUptime.add(b[1]);
                    productMs.add(p[0]);
                    productUptime.add(p[1]);
                }
                System.err.printf(Locale.ROOT, "%s: workbench %d ms, bare SWT shell %d ms%n",
                        i < 0 ? "warm-up (not counted)" : "run " + (i + 1), p[0], b[0]);
            }
        }
        long productMedian = median(productMs);
        long bareMedian = median(bareMs);
        double ratio = productMedian / (double) bareMedian;
        ObjectMapper json = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
        ObjectNode f = json.createObjectNode();
        f.put("benchmark", "workbench-cold-start");
        f.put("what", "process start to the first painted window (workbench: its main window; floor: an empty"
                + " SWT shell of the same size), Xvfb, fresh process and workspace each start");
        f.put("java", java.toString());
        f.put("java_version", javaVersion(java));
        f.put("swt", swt.getFileName().toString());
        f.put("runs", runs);
        f.put("workbench_median_ms", productMedian);
        f.put("bare_swt_median_ms", bareMedian);
        f.put("ratio_workbench_over_bare", ratio);
        f.put("goal_ms", GOAL_MS);
        f.put("meets_goal", productMedian < GOAL_MS);
        put(f.putArray("workbench_ms"), productMs);
        put(f.putArray("bare_swt_ms"), bareMs);
        put(f.putArray("workbench_jvm_uptime_at_paint_ms"), productUptime);
        put(f.putArray("bare_swt_jvm_uptime_at_paint_ms"), bareUptime);
        Path out = ProductUnderXvfb.ROOT.resolve("target/bench/workbench-cold-start.json");
        Files.createDirectories(out.getParent());
        Path part = out.resolveSibling(out.getFileName() + ".tmp");
        json.writeValue(part.toFile(), f);
        Files.move(part, out, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        System.out.printf(Locale.ROOT, "bench workbench-cold-start: workbench %d ms, bare SWT shell %d ms, ratio %.2fx"
                + " (median of %d, Xvfb, Java %s); goal < %d ms: %s%n", productMedian, bareMedian, ratio, runs,
                javaVersion(java), GOAL_MS, productMedian < GOAL_MS ? "met" : "NOT met");
        return 0;
    }

    /** Starts a process, waits for its paint line; returns {wall ms from start, JVM uptime ms at paint}. */
    private static long[] start(List<String> command, ProductUnderXvfb.Xvfb xvfb, ProcessBuilder given, String marker)
            throws IOException, InterruptedException {
        ProcessBuilder pb = given != null ? given : new ProcessBuilder(command);
        pb.environment().put("DISPLAY", xvfb.name());
        pb.redirectErrorStream(true);
        long t0 = System.nanoTime();
        Process p = pb.start();
        try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
            List<String> seen = new ArrayList<>();
            String line;
            while ((line = r.readLine()) != null) {
                if (line.startsWith(marker)) {
                    long wall = (System.nanoTime() - t0) / 1_000_000;
                    return new long[] {wall, Long.parseLong(line.substring(marker.length()).strip())};
                }
                seen.add(line);
            }
            throw new IllegalStateException(command.get(0) + " ended before painting; it printed:\n"
                    + String.join("\n", seen.subList(Math.max(0, seen.size() - 40), seen.size())));
        } finally {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
            p.waitFor(30, TimeUnit.SECONDS);
        }
    }

    /** The JVM the product's launch script would pick first: Java 21+ under /usr/lib/jvm. */
    static Path java() throws IOException {
        String env = System.getenv("DISTILLERY_WORKBENCH_JAVA");
        if (env != null && !env.isBlank()) {
            return Path.of(env);
        }
        Path preferred = Path.of("/usr/lib/jvm/temurin-25-jdk-amd64/bin/java");
        if (Files.isExecutable(preferred)) {
            return preferred;
        }
        try (Stream<Path> jdks = Files.list(Path.of("/usr/lib/jvm"))) {
            return jdks.filter(j -> j.getFileName().toString().matches("(temurin|java)-2[1-9].*"))
                    .map(j -> j.resolve("bin/java")).filter(Files::isExecutable).sorted().findFirst()
                    .orElseThrow(() -> new IllegalStateException("no Java 21+ under /usr/lib/jvm; set"
                            + " DISTILLERY_WORKBENCH_JAVA"));
        }
    }

    private static Path compileBareShell(Path java, Path swt, Path dir) throws IOException, InterruptedException {
        Files.createDirectories(dir);
        Path source = dir.resolve("BareShell.java");
        try (InputStream in = ColdStartBench.class.getResourceAsStream("BareShell.java")) {
            Files.write(source, in.readAllBytes());
        }
        Process javac = new ProcessBuilder(java.resolveSibling("javac").toString(), "-cp", swt.toString(), "-d",
                dir.toString(), source.toString()).redirectErrorStream(true).start();
        String out = new String(javac.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (javac.waitFor() != 0) {
            throw new IllegalStateException("javac BareShell.java failed:\n" + out);
        }
        return dir;
    }

    private static String javaVersion(Path java) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(java.toString(), "-version").redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        p.waitFor();
        Matcher m = Pattern.compile("version \"([^\"]+)\"").matcher(out);
        return m.find() ? m.group(1) : "unknown";
    }

    private static long median(List<Long> xs) {
        long[] s = xs.stream().mapToLong(Long::longValue).sorted().toArray();
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    private static void put(ArrayNode a, List<Long> xs) {
        xs.forEach(a::add);
    }

    private static void delete(Path dir) throws IOException {
        try (Stream<Path> files = Files.walk(dir)) {
            for (Path f : files.sorted((a, b) -> b.getNameCount() - a.getNameCount()).toList()) {
                Files.deleteIfExists(f);
            }
        }
    }
}
