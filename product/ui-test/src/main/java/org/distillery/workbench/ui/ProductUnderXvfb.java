package org.distillery.workbench.ui;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarFile;
import java.util.stream.Stream;

/**
 * The materialized workbench product, copied with the UI driver bundle added to its bundle list, and
 * an Xvfb display to run it on: what the UI test and the cold-start benchmark share.
 */
public final class ProductUnderXvfb {
    /** The checkout: the working folder (the module's, under surefire; the root's, under exec:java) or above it. */
    public static final Path ROOT = checkout(Path.of("").toAbsolutePath());
    public static final Path PRODUCT = ROOT.resolve(
            "product/target/products/org.distillery.workbench.product/linux/gtk/x86_64");

    private ProductUnderXvfb() {
    }

    private static Path checkout(Path from) {
        for (Path p = from; p != null; p = p.getParent()) {
            if (Files.isRegularFile(p.resolve("bin/distillery")) && Files.isDirectory(p.resolve("product"))) {
                return p;
            }
        }
        throw new IllegalStateException(from + " is not inside a Distillery checkout (no bin/distillery above it)");
    }

    /** A copy of the product at {@code copy} with the driver bundle added to its simpleconfigurator list. */
    public static Path installWithDriver(Path copy) throws IOException {
        if (!Files.isDirectory(PRODUCT)) {
            throw new IllegalStateException("no product at " + PRODUCT + ": ./mvnw verify builds it");
        }
        try (Stream<Path> files = Files.walk(PRODUCT)) {
            for (Path f : files.toList()) {
                Path to = copy.resolve(PRODUCT.relativize(f).toString());
                if (Files.isDirectory(f)) {
                    Files.createDirectories(to);
                } else {
                    Files.copy(f, to, StandardCopyOption.COPY_ATTRIBUTES);
                }
            }
        }
        Path driver;
        try (Stream<Path> jars = Files.list(ROOT.resolve("bundles/org.distillery.workbench.uitest/target"))) {
            driver = jars.filter(p -> p.getFileName().toString().matches("org\\.distillery\\.workbench\\.uitest-.*\\.jar"))
                    .filter(p -> !p.getFileName().toString().contains("sources")).findFirst()
                    .orElseThrow(() -> new IllegalStateException("the UI driver bundle is not built"));
        }
        String version;
        try (JarFile jar = new JarFile(driver.toFile())) {
            version = jar.getManifest().getMainAttributes().getValue("Bundle-Version");
        }
        String name = "org.distillery.workbench.uitest_" + version + ".jar";
        Files.copy(driver, copy.resolve("plugins").resolve(name));
        Path info = copy.resolve("configuration/org.eclipse.equinox.simpleconfigurator/bundles.info");
        Files.writeString(info, Files.readString(info) + "org.distillery.workbench.uitest," + version + ",plugins/" + name
                + ",4,false\n");
        return copy;
    }

    /** An Xvfb server on a free display number; closing stops it. */
    public record Xvfb(int display, Process process) implements AutoCloseable {
        public static Xvfb start(Path log) throws IOException, InterruptedException {
            int display = freeDisplay();
            Process p = new ProcessBuilder("Xvfb", ":" + display, "-screen", "0", "1280x800x24", "-nolisten", "tcp")
                    .redirectErrorStream(true).redirectOutput(log.toFile()).start();
            for (int i = 0; i < 100; i++) {
                if (Files.exists(Path.of("/tmp/.X11-unix/X" + display))) {
                    return new Xvfb(display, p);
                }
                if (!p.isAlive()) {
                    throw new IllegalStateException("Xvfb exited (bin/test installs it): exit " + p.exitValue());
                }
                Thread.sleep(100);
            }
            p.destroy();
            throw new IllegalStateException("Xvfb did not open display :" + display);
        }

        /** The DISPLAY value. */
        public String name() {
            return ":" + display;
        }

        @Override
        public void close() throws InterruptedException {
            process.destroy();
            process.waitFor(10, TimeUnit.SECONDS);
        }

        private static int freeDisplay() {
            Random random = new Random();
            for (int i = 0; i < 100; i++) {
                int d = 100 + random.nextInt(400);
                if (!Files.exists(Path.of("/tmp/.X11-unix/X" + d)) && !Files.exists(Path.of("/tmp/.X" + d + "-lock"))) {
                    return d;
                }
            }
            throw new IllegalStateException("no free X display number");
        }
    }

    /** The last 6,000 characters of a log, for failure messages. */
    public static String tail(Path log) throws IOException {
        if (!Files.exists(log)) {
            return "(no log)";
        }
        String s = Files.readString(log);
        return s.length() > 6000 ? s.substring(s.length() - 6000) : s;
    }
}
