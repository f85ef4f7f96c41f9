package org.distillery.core.dataset;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.distillery.core.DistilleryException;
import org.distillery.core.spec.SpecReader;

/**
 * The datasets a checkout describes ({@code datasets/<name>/dataset.yaml}) and where their fetched
 * copies live ({@code <work>/datasets/<name>/}, complete exactly when that folder exists).
 */
public final class DatasetCatalog {
    public static final String DESCRIPTOR = "dataset.yaml";

    private final Path datasetsDir;
    private final Path workDir;

    public DatasetCatalog(Path datasetsDir, Path workDir) {
        this.datasetsDir = datasetsDir;
        this.workDir = workDir;
    }

    public Path datasetsDir() {
        return datasetsDir;
    }

    /** Every descriptor, sorted by name. */
    public List<DatasetDescriptor> list() {
        if (!Files.isDirectory(datasetsDir)) {
            throw new DistilleryException(datasetsDir + ": datasets folder not found (set --datasets or DISTILLERY_HOME)");
        }
        List<DatasetDescriptor> out = new ArrayList<>();
        try (Stream<Path> dirs = Files.list(datasetsDir)) {
            for (Path d : dirs.sorted().toList()) {
                if (Files.isRegularFile(d.resolve(DESCRIPTOR))) {
                    out.add(SpecReader.read(d.resolve(DESCRIPTOR), DatasetDescriptor.class));
                }
            }
        } catch (IOException e) {
            throw new DistilleryException(datasetsDir + ": cannot list datasets: " + e.getMessage(), e);
        }
        return out;
    }

    public DatasetDescriptor get(String name) {
        Path file = descriptorFile(name);
        if (!Files.isRegularFile(file)) {
            List<String> known = list().stream().map(DatasetDescriptor::name).toList();
            throw new DistilleryException("unknown dataset '" + name + "': " + file + " does not exist; known datasets: "
                    + String.join(", ", known));
        }
        DatasetDescriptor d = SpecReader.read(file, DatasetDescriptor.class);
        if (!d.name().equals(name)) {
            throw new DistilleryException(file + ": name is '" + d.name() + "' but the folder is '" + name + "'");
        }
        return d;
    }

    public Path descriptorFile(String name) {
        return datasetsDir.resolve(name).resolve(DESCRIPTOR);
    }

    /** The small sample committed beside the descriptor, for tests, or null. */
    public Path samplePath(DatasetDescriptor d) {
        return d.sample() == null ? null : datasetsDir.resolve(d.name()).resolve(d.sample());
    }

    /** Where the fetched copy lives (whether or not it is there yet). */
    public Path fetchedPath(String name) {
        return workDir.resolve("datasets").resolve(name);
    }

    /** The corpus files of a fetched dataset. */
    public Path fetchedFiles(String name) {
        return fetchedPath(name).resolve(DatasetFetcher.FILES);
    }

    /** The verified SHA-256 of a fetched dataset's source, as recorded at fetch time. */
    public String fetchedSha256(String name) throws IOException {
        return Files.readString(fetchedPath(name).resolve(DatasetFetcher.SOURCE_SHA256)).strip();
    }

    public boolean isFetched(String name) {
        return Files.isDirectory(fetchedPath(name));
    }
}
