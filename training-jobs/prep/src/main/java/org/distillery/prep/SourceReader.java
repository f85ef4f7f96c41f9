package org.distillery.prep;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import org.distillery.core.DistilleryException;
import org.distillery.core.io.Location;
import org.distillery.core.io.RemoteFiles;
import org.distillery.core.io.Sha256;
import org.distillery.core.spec.DocUnit;
import org.distillery.core.spec.SourceFormat;
import org.distillery.core.text.BrownTaggedText;

/**
 * Reads one source's files into an RDD of raw documents, in any of the {@link SourceFormat}s.
 * Files are listed on the driver first, so a missing or unreadable path fails at once with its
 * name; a malformed record fails the job with the file and line.
 */
final class SourceReader {
    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * A source resolved to its files: local ones, or files on a Hadoop file system that Spark reads directly.
     * {@code root} and each file's {@code name} are what messages show (a path, or a URI).
     */
    record Resolved(String name, SourceFormat format, String root, List<SourceFile> files, String textField,
                    DocUnit unit, String sha256) {
    }

    /** One file of a source: its name in messages, the URI Spark reads, its size. */
    record SourceFile(String name, String uri, long bytes) {
    }

    /** The files at {@code at} (a file or a folder, searched recursively), local or remote. */
    static List<SourceFile> list(Location at, String what) {
        if (!at.isRemote()) {
            List<SourceFile> out = new ArrayList<>();
            for (Path p : listFiles(at.local(), what)) {
                try {
                    out.add(new SourceFile(p.toString(), p.toAbsolutePath().toUri().toString(), Files.size(p)));
                } catch (IOException e) {
                    throw new DistilleryException(p + ": cannot read: " + e.getMessage(), e);
                }
            }
            return out;
        }
        RemoteFiles files = at.files();
        try {
            if (!files.exists(at.remote())) {
                throw new DistilleryException(at + ": no such file or folder (" + what + ")");
            }
            List<SourceFile> out = new ArrayList<>();
            for (URI u : files.listFiles(at.remote())) {
                out.add(new SourceFile(u.toString(), u.toString(), files.length(u)));
            }
            if (out.isEmpty()) {
                throw new DistilleryException(at + ": folder holds no files (" + what + ")");
            }
            return out;
        } catch (IOException e) {
            throw new DistilleryException(at + ": cannot list files (" + what + "): " + e.getMessage(), e);
        }
    }

    /** {@link #hashFiles} for files anywhere: each read through its file system once. */
    static String hash(Location at, List<SourceFile> files) {
        if (!at.isRemote()) {
            return hashFiles(at.local(), files.stream().map(f -> Path.of(f.name())).toList());
        }
        StringBuilder lines = new StringBuilder();
        String root = at.remote().getPath();
        RemoteFiles fs = at.files();
        for (SourceFile f : files) {
            URI u = URI.create(f.uri());
            String rel = u.getPath().equals(root) ? at.name() : u.getPath().substring(root.length() + 1);
            try (java.io.InputStream in = fs.open(u)) {
                lines.append(rel).append(' ').append(Sha256.of(in)).append('\n');
            } catch (IOException e) {
                throw new DistilleryException(f.name() + ": cannot read: " + e.getMessage(), e);
            }
        }
        return Sha256.of(lines.toString());
    }

    private SourceReader() {
    }

    /** Lists the regular files at {@code path} (a file or a folder, searched recursively). */
    static List<Path> listFiles(Path path, String what) {
        if (!Files.exists(path)) {
            throw new DistilleryException(path + ": no such file or folder (" + what + ")");
        }
        if (!Files.isReadable(path)) {
            throw new DistilleryException(path + ": not readable (permission denied) (" + what + ")");
        }
        if (Files.isRegularFile(path)) {
            return List.of(path);
        }
        try (Stream<Path> s = Files.walk(path)) {
            List<Path> files = s.filter(Files::isRegularFile)
                    .filter(p -> !p.getFileName().toString().startsWith("."))
                    .sorted().toList();
            for (Path f : files) {
                if (!Files.isReadable(f)) {
                    throw new DistilleryException(f + ": not readable (permission denied) (" + what + ")");
                }
            }
            if (files.isEmpty()) {
                throw new DistilleryException(path + ": folder holds no files (" + what + ")");
            }
            return files;
        } catch (IOException e) {
            throw new DistilleryException(path + ": cannot list files: " + e.getMessage(), e);
        }
    }

    /** SHA-256 over the files' relative names and contents: the identity of a local source. */
    static String hashFiles(Path root, List<Path> files) {
        StringBuilder lines = new StringBuilder();
        for (Path f : files) {
            try {
                String rel = Files.isRegularFile(root) ? f.getFileName().toString() : root.relativize(f).toString();
                lines.append(rel).append(' ').append(Sha256.of(f)).append('\n');
            } catch (IOException e) {
                throw new DistilleryException(f + ": cannot read: " + e.getMessage(), e);
            }
        }
        return Sha256.of(lines.toString());
    }

    static JavaRDD<String> read(SparkSession spark, Resolved src, int partitions) {
        JavaSparkContext sc = JavaSparkContext.fromSparkContext(spark.sparkContext());
        String paths = String.join(",", src.files().stream().map(SourceFile::uri).toList());
        int minPartitions = Math.max(1, Math.min(partitions, src.files().size()));
        return switch (src.format()) {
            case BROWN_TAGGED -> sc.wholeTextFiles(paths, minPartitions).values().map(BrownTaggedText::toText);
            case JSON_SENTENCES -> sc.wholeTextFiles(paths, minPartitions).flatMap(fc -> sentences(fc._1(), fc._2()));
            case TEXT -> switch (src.unit()) {
                case FILE -> sc.wholeTextFiles(paths, minPartitions).values();
                case PARAGRAPH -> sc.wholeTextFiles(paths, minPartitions)
                        .flatMap(fc -> Arrays.asList(fc._2().split("\\n\\s*\\n")).iterator());
                case LINE -> sc.textFile(paths, partitions);
            };
            case JSONL -> jsonl(sc, src, partitions);
            case PARQUET -> parquet(spark, src, paths);
        };
    }

    static java.util.Iterator<String> sentences(String file, String content) {
        JsonNode root;
        try {
            root = JSON.readTree(content);
        } catch (JsonProcessingException e) {
            throw new DistilleryException(file + ":" + e.getLocation().getLineNr() + ": not valid JSON: "
                    + e.getOriginalMessage());
        }
        if (root == null || !root.isArray()) {
            throw new DistilleryException(file + ": expected a JSON array of strings (format json-sentences)");
        }
        List<String> out = new ArrayList<>(root.size());
        for (int i = 0; i < root.size(); i++) {
            if (!root.get(i).isTextual()) {
                throw new DistilleryException(file + ": element " + i + " is " + root.get(i).getNodeType()
                        + ", expected a string (format json-sentences)");
            }
            out.add(root.get(i).asText());
        }
        return out.iterator();
    }

    /** JSON lines, one RDD per file so that a bad record can be traced to its file. */
    private static JavaRDD<String> jsonl(JavaSparkContext sc, Resolved src, int partitions) {
        List<JavaRDD<String>> parts = new ArrayList<>();
        String field = src.textField();
        for (SourceFile f : src.files()) {
            String file = f.name();
            parts.add(sc.textFile(f.uri(), Math.max(1, partitions / src.files().size()))
                    .filter(line -> !line.isBlank())
                    .map(line -> textOf(line, field, file)));
        }
        return parts.size() == 1 ? parts.get(0) : sc.union(parts.toArray(JavaRDD[]::new));
    }

    static String textOf(String line, String field, String file) {
        JsonNode n;
        try {
            n = JSON.readTree(line);
        } catch (JsonProcessingException e) {
            throw new BadRecordException(file, field, "not valid JSON: " + e.getOriginalMessage(), line);
        }
        JsonNode t = n == null ? null : n.get(field);
        if (t == null || !t.isTextual()) {
            throw new BadRecordException(file, field, "expected a JSON object with a string field '" + field + "'",
                    line);
        }
        return t.asText();
    }

    /** A JSON-lines record that cannot be read; the driver finds its line number for the message. */
    static final class BadRecordException extends DistilleryException {
        final String file;
        final String field;
        final String line;

        BadRecordException(String file, String field, String problem, String line) {
            super(file + ": " + problem + "; record: " + abbreviate(line));
            this.file = file;
            this.field = field;
            this.line = line;
        }
    }

    /** Reads the file on the driver to name the first bad record's line, for the error message. */
    static String locateBadRecord(String file, String field) {
        Location at = Location.parse(file, Path.of("/"));
        try (BufferedReader r = at.isRemote()
                ? new BufferedReader(new java.io.InputStreamReader(at.files().open(at.remote()), StandardCharsets.UTF_8))
                : Files.newBufferedReader(at.local(), StandardCharsets.UTF_8)) {
            String line;
            int n = 0;
            while ((line = r.readLine()) != null) {
                n++;
                if (line.isBlank()) {
                    continue;
                }
                try {
                    textOf(line, field, file);
                } catch (BadRecordException e) {
                    return file + ":" + n + ": " + e.getMessage().substring(file.length() + 2);
                }
            }
        } catch (IOException e) {
            return file + ": cannot read: " + e.getMessage();
        }
        return null;
    }

    private static JavaRDD<String> parquet(SparkSession spark, Resolved src, String paths) {
        Dataset<Row> df = spark.read().parquet(paths.split(","));
        StructType schema = df.schema();
        String field = src.textField();
        StructField f = Arrays.stream(schema.fields()).filter(x -> x.name().equals(field)).findFirst().orElse(null);
        if (f == null || !f.dataType().equals(DataTypes.StringType)) {
            throw new DistilleryException(src.root() + ": Parquet has no string column '" + field + "'; columns: "
                    + String.join(", ", Arrays.stream(schema.fields())
                            .map(x -> x.name() + " " + x.dataType().simpleString()).toList())
                    + " (set text_field)");
        }
        return df.select(field).toJavaRDD().filter(r -> !r.isNullAt(0)).map(r -> r.getString(0));
    }

    private static String abbreviate(String s) {
        return s.length() <= 120 ? s : s.substring(0, 117) + "...";
    }
}
