package org.distillery.prep;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.apache.spark.SparkException;
import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.storage.StorageLevel;
import org.distillery.core.DistilleryException;
import org.distillery.core.dataset.DatasetCatalog;
import org.distillery.core.dataset.DatasetDescriptor;
import org.distillery.core.io.AtomicDirectory;
import org.distillery.core.io.AtomicFile;
import org.distillery.core.io.Directories;
import org.distillery.core.io.Location;
import org.distillery.core.io.Sha256;
import org.distillery.core.progress.ProgressEvent;
import org.distillery.core.progress.ProgressListener;
import org.distillery.core.shard.ShardManifest;
import org.distillery.core.shard.TokenShard;
import org.distillery.core.spec.PrepSpec;
import org.distillery.core.spec.SourceFormat;
import org.distillery.core.spec.SpecReader;
import org.distillery.core.text.QualityFilter;
import org.distillery.core.tokenizer.BpeTokenizer;
import org.distillery.core.tokenizer.HfTokenizerJson;
import scala.Tuple2;

/**
 * {@code distillery prep}: raw corpora in, checksummed token shards out, as one Spark job.
 *
 * <ol>
 *   <li>read every source and normalize the text;</li>
 *   <li>quality filters, counting removals per rule;</li>
 *   <li>exact dedup by content hash, then near dedup by MinHash LSH;</li>
 *   <li>deterministic train/validation split by content hash;</li>
 *   <li>train a byte-level BPE (words and pairs counted on Spark) or load one;</li>
 *   <li>tokenize and pack the shards (on the executors), then write the manifest.</li>
 * </ol>
 *
 * Everything is written into a staging folder beside the output, which is renamed into place
 * only after the manifest is written: a killed job leaves no folder that looks complete. The output may be
 * a local folder or a folder on any Hadoop file system ({@code hdfs://...}): there the staging folder is on
 * that file system too, each executor writes its shard straight into it, and one rename publishes it.
 */
public final class PrepJob {
    public static final String JOB = "prep";
    public static final String TOKENIZER_FILE = "tokenizer.json";
    static final String[] STAGES = {"read", "filter", "dedup-exact", "dedup-near", "split", "tokenizer", "shards",
        "manifest"};

    private final PrepSpec spec;
    private final Path specDir;
    private final DatasetCatalog catalog;
    private final Location output;
    private final boolean overwrite;
    private final ProgressListener progress;
    private final Map<String, Double> stageSeconds = new LinkedHashMap<>();
    private SparkProgress sparkProgress;
    private long stageStart;
    private String currentStage;

    /** What a run produced, with timings for the benchmark. */
    public record Result(Location location, ShardManifest manifest, Map<String, Double> stageSeconds) {
        /** The output folder, when it is local. */
        public Path output() {
            return location.local();
        }
    }

    public PrepJob(PrepSpec spec, Path specDir, DatasetCatalog catalog, Path output, boolean overwrite,
                   ProgressListener progress) {
        this(spec, specDir, catalog, Location.of(output), overwrite, progress);
    }

    public PrepJob(PrepSpec spec, Path specDir, DatasetCatalog catalog, Location output, boolean overwrite,
                   ProgressListener progress) {
        this.spec = spec;
        this.specDir = specDir;
        this.catalog = catalog;
        this.output = output;
        this.overwrite = overwrite;
        this.progress = progress;
    }

    public Result run(SparkSession spark) throws IOException {
        if (exists(output) && !overwrite) {
            throw new DistilleryException(output + ": output folder already exists; remove it or pass --overwrite");
        }
        List<SourceReader.Resolved> sources = resolveSources();
        String stagingName = "." + output.name() + ".partial-" + UUID.randomUUID();
        // Where the driver writes the tokenizer and the manifest: beside a local output, or a local scratch
        // folder whose files are then uploaded beside a remote one.
        Path staging = output.isRemote() ? Files.createTempDirectory("distillery-prep-")
                : output.local().resolveSibling(stagingName);
        Location shardStaging = output.isRemote() ? output.sibling(stagingName) : Location.of(staging);
        sparkProgress = new SparkProgress(JOB, progress);
        spark.sparkContext().addSparkListener(sparkProgress);
        List<JavaRDD<?>> cached = new ArrayList<>();
        boolean published = false;
        try {
            Files.createDirectories(staging);
            if (output.isRemote()) {
                output.files().mkdirs(shardStaging.remote());
            }
            Result r = runStages(spark, sources, staging, shardStaging.toString(), cached);
            if (output.isRemote()) {
                publishRemote(staging, shardStaging);
            } else {
                moveIntoPlace(staging, output.local());
            }
            published = true;
            progress.on(ProgressEvent.done(JOB, output.toString()));
            return new Result(output, r.manifest(), r.stageSeconds());
        } catch (SparkException e) {
            throw SparkErrors.unwrap(e);
        } finally {
            spark.sparkContext().removeSparkListener(sparkProgress);
            cached.forEach(JavaRDD::unpersist);
            Directories.deleteRecursively(staging);
            if (output.isRemote() && !published) {
                try {
                    output.files().delete(shardStaging.remote());
                } catch (IOException | RuntimeException e) {
                    // the hidden staging folder stays; the failure that brought us here is the one to report
                }
            }
        }
    }

    private static boolean exists(Location l) throws IOException {
        return l.isRemote() ? l.files().exists(l.remote()) : Files.exists(l.local());
    }

    /**
     * The tokenizer, then the manifest (last: its presence makes the folder complete) go up beside the shards
     * the executors wrote; then one rename on the remote file system puts the folder in place.
     */
    private void publishRemote(Path local, Location remoteStaging) throws IOException {
        var files = output.files();
        files.upload(local.resolve(TOKENIZER_FILE), remoteStaging.resolve(TOKENIZER_FILE).remote());
        files.upload(local.resolve(ShardManifest.FILE_NAME), remoteStaging.resolve(ShardManifest.FILE_NAME).remote());
        AtomicDirectory.publish(remoteStaging, output);
    }

    /**
     * The stages in order, each its own unit with its settings from the spec: read (normalize and filter in one
     * pass), the filters' figures, exact dedup, near dedup, split, tokenizer, shards, and the manifest last.
     */
    private Result runStages(SparkSession spark, List<SourceReader.Resolved> sources, Path staging, String shardDir,
                             List<JavaRDD<?>> cached) throws IOException, SparkException {
        JavaSparkContext sc = JavaSparkContext.fromSparkContext(spark.sparkContext());
        int partitions = spec.spark().partitions();
        List<QualityFilter> rules = qualityRules();

        stage("read");
        ReadStage.Output read = new ReadStage(sources, spec.normalize(), rules, partitions).run(spark, cached);
        long documentsRead = read.documentsRead();
        metric("documents_read", documentsRead);

        stage("filter");
        Map<String, Long> removed = new LinkedHashMap<>();
        for (QualityFilter f : rules) {
            removed.put(f.name(), read.tagged(f.name()));
            metric("removed." + f.name(), removed.get(f.name()));
        }
        long empty = read.tagged(ReadStage.EMPTY);
        long afterFilter = read.tagged(ReadStage.KEPT);
        if (afterFilter == 0) {
            throw new DistilleryException("the corpus is empty after filtering: " + documentsRead + " documents read, "
                    + empty + " empty, removed by filter: " + removed + "; loosen the thresholds under 'filters' in the spec");
        }

        stage("dedup-exact");
        ExactDedupStage.Output exact = new ExactDedupStage(partitions).run(sc, read.kept());
        metric("exact_duplicates", exact.removed());

        stage("dedup-near");
        NearDedupStage.Output near = new NearDedupStage(spec.dedup().near(), partitions).run(sc, exact.unique(), cached);
        metric("near_duplicates", near.removed());
        long documentsKept = afterFilter - exact.removed() - near.removed();
        double dedupRatio = (double) (exact.removed() + near.removed()) / afterFilter;
        metric("dedup_ratio", dedupRatio);

        stage("split");
        SplitStage.Output split = new SplitStage(spec.split()).run(near.kept(), cached);
        if (split.trainDocuments() == 0 || split.valDocuments() == 0) {
            throw new DistilleryException("the split left " + split.trainDocuments() + " training and "
                    + split.valDocuments() + " validation documents out of " + documentsKept + "; both need at least"
                    + " one: add text or change split.val_fraction (" + spec.split().valFraction() + ")");
        }

        stage("tokenizer");
        BpeTokenizer tokenizer = new TokenizerStage(spec.tokenizer(), partitions, this::resolve, progress).run(split);
        String tokenizerJson = HfTokenizerJson.toJson(tokenizer);
        String tokenizerSha = Sha256.of(tokenizerJson);
        AtomicFile.write(staging.resolve(TOKENIZER_FILE), tokenizerJson.getBytes(StandardCharsets.UTF_8));
        int eot = tokenizer.idOf(PrepSpec.END_OF_TEXT);
        if (eot < 0) {
            throw new DistilleryException("the tokenizer has no " + PrepSpec.END_OF_TEXT
                    + " token, which ends every document in the shards; add it to tokenizer.special_tokens");
        }
        metric("vocab_size", tokenizer.vocabSize());

        stage("shards");
        ShardsStage.Output shards = new ShardsStage(spec.shards(), shardDir).run(sc, split, tokenizer, tokenizerJson,
                tokenizerSha, eot);

        // Last: the manifest's presence is what makes the folder complete.
        stage("manifest");
        String sourceSha = Sha256.of(String.join("\n", read.sources().stream().map(s -> s.name() + " " + s.sha256())
                .toList()));
        ShardManifest.Stats stats = new ShardManifest.Stats(documentsRead, empty, removed, exact.removed(),
                near.removed(), dedupRatio, documentsKept, read.bytesRead());
        Map<String, ShardManifest.Split> splits = new LinkedHashMap<>();
        splits.put("train", ShardsStage.Output.split(shards.train()));
        splits.put("val", ShardsStage.Output.split(shards.val()));
        @SuppressWarnings("unchecked")
        Map<String, Object> specMap = SpecReader.YAML.convertValue(spec, Map.class);
        ShardManifest manifest = new ShardManifest(ShardManifest.FORMAT, ShardManifest.VERSION,
                Versions.distillery(), Instant.now().toString(),
                new ShardManifest.TokenizerRef(TOKENIZER_FILE, tokenizerSha, tokenizer.vocabSize()),
                TokenShard.dtypeName(shards.width()), eot, sourceSha, read.sources(), stats,
                splits, specMap);
        manifest.write(staging);
        metric("train_tokens", manifest.tokens("train"));
        metric("val_tokens", manifest.tokens("val"));
        endStage();
        return new Result(output, manifest, stageSeconds);
    }

    /** A spec path: absolute, or relative to the spec's folder; "dataset:NAME/FILE" names a fetched dataset's file. */
    private Path resolve(String p) {
        if (p.startsWith("dataset:")) {
            String rest = p.substring("dataset:".length());
            int slash = rest.indexOf('/');
            String name = slash < 0 ? rest : rest.substring(0, slash);
            requireFetched(name, "tokenizer");
            return slash < 0 ? catalog.fetchedFiles(name) : catalog.fetchedFiles(name).resolve(rest.substring(slash + 1));
        }
        return specDir.resolve(p).normalize();
    }

    private void requireFetched(String name, String usedBy) {
        catalog.get(name);
        if (!catalog.isFetched(name)) {
            throw new DistilleryException("dataset '" + name + "' (" + usedBy + ") is not fetched yet: run `distillery"
                    + " datasets fetch " + name + "` (it goes to " + catalog.fetchedPath(name) + ")");
        }
    }

    /**
     * What the job checks of its inputs before it reads them, every problem at once, without reading a corpus: each
     * source is there (a fetched dataset of the catalogue, or files at its path), and so are the tokenizer files a
     * spec names. For {@code distillery validate}.
     */
    public List<InputProblem> inputProblems() {
        List<InputProblem> problems = new ArrayList<>();
        for (int i = 0; i < spec.sources().size(); i++) {
            PrepSpec.Source s = spec.sources().get(i);
            String what = "sources[" + i + "]";
            try {
                if (s.dataset() != null) {
                    DatasetDescriptor d = catalog.get(s.dataset());
                    if (d.sourceFormat() == null) {
                        throw new DistilleryException(what + ": dataset '" + d.name() + "' is a " + d.format()
                                + ", not a corpus; use it under tokenizer: instead");
                    }
                    requireFetched(d.name(), what);
                } else {
                    SourceReader.list(Location.parse(s.path(), specDir), what + ".path");
                }
            } catch (DistilleryException e) {
                problems.add(new InputProblem(s.dataset() != null ? what + ".dataset" : what + ".path", e.getMessage()));
            }
        }
        PrepSpec.Tokenizer t = spec.tokenizer();
        Map<String, String> files = new java.util.LinkedHashMap<>();
        files.put("tokenizer.from", t.from());
        files.put("tokenizer.gpt2_vocab", t.gpt2Vocab());
        files.put("tokenizer.gpt2_merges", t.gpt2Merges());
        files.forEach((field, file) -> {
            try {
                if (file != null && !Files.isRegularFile(resolve(file))) {
                    problems.add(new InputProblem(field, resolve(file) + ": no such file"));
                }
            } catch (DistilleryException e) {
                problems.add(new InputProblem(field, e.getMessage()));
            }
        });
        return problems;
    }

    /** An input the job would not find: the spec field that names it, and what is wrong. */
    public record InputProblem(String field, String message) {
    }

    private List<SourceReader.Resolved> resolveSources() {
        List<SourceReader.Resolved> out = new ArrayList<>();
        for (int i = 0; i < spec.sources().size(); i++) {
            PrepSpec.Source s = spec.sources().get(i);
            String what = "sources[" + i + "]";
            if (s.dataset() != null) {
                DatasetDescriptor d = catalog.get(s.dataset());
                SourceFormat format = d.sourceFormat();
                if (format == null) {
                    throw new DistilleryException(what + ": dataset '" + d.name() + "' is a " + d.format()
                            + ", not a corpus; use it under tokenizer: instead");
                }
                requireFetched(d.name(), what);
                Path root = catalog.fetchedFiles(d.name());
                String sha;
                try {
                    sha = catalog.fetchedSha256(d.name());
                } catch (IOException e) {
                    throw new DistilleryException(catalog.fetchedPath(d.name()) + ": fetched copy is incomplete; fetch"
                            + " it again with --force", e);
                }
                out.add(new SourceReader.Resolved(d.name(), format, root.toString(),
                        SourceReader.list(Location.of(root), what), s.textField(), s.docUnit(), sha));
            } else {
                // A path relative to the spec's folder, or a URI of a Hadoop file system (hdfs://, s3a://).
                Location root = Location.parse(s.path(), specDir);
                List<SourceReader.SourceFile> files = SourceReader.list(root, what + ".path");
                out.add(new SourceReader.Resolved(s.path(), s.format(), root.toString(), files, s.textField(),
                        s.docUnit(), SourceReader.hash(root, files)));
            }
        }
        return out;
    }

    /**
     * Keeps {@code rdd} in memory (spilling to disk) for the passes that follow, one list per partition. Spark
     * estimates the size of what it caches by walking a sample of the objects each time the cache grows by a
     * tenth: per record, that walk took a tenth of the job's time; per partition it is a handful of walks.
     */
    static <K, V> JavaPairRDD<K, V> persist(JavaPairRDD<K, V> rdd, List<JavaRDD<?>> cached) {
        JavaRDD<List<Tuple2<K, V>>> partitions = rdd.glom().persist(StorageLevel.MEMORY_AND_DISK());
        cached.add(partitions);
        return partitions.flatMapToPair(List::iterator);
    }

    /**
     * How often each value occurs, counted in each partition and merged on the driver: one pass and no
     * shuffle, where {@code countByValue} shuffles the partitions' counts first (for a handful of values).
     */
    static <T> Map<T, Long> countValues(JavaRDD<T> values) {
        return values.mapPartitions(part -> {
            HashMap<T, Long> counts = new HashMap<>();
            part.forEachRemaining(v -> counts.merge(v, 1L, Long::sum));
            return List.of(counts).iterator();
        }).reduce((a, b) -> {
            b.forEach((k, v) -> a.merge(k, v, Long::sum));
            return a;
        });
    }

    /** A document that passed the filters: its id (the SHA-256 of its text, in hex) and its text. */
    record Document(String id, String text) implements java.io.Serializable {
    }

    private List<QualityFilter> qualityRules() {
        PrepSpec.Filters f = spec.filters();
        return List.of(
                new QualityFilter("min_chars", QualityFilter.Bound.MIN, f.minChars(), QualityFilter.Measure.CHARS),
                new QualityFilter("max_chars", QualityFilter.Bound.MAX, f.maxChars(), QualityFilter.Measure.CHARS),
                new QualityFilter("min_words", QualityFilter.Bound.MIN, f.minWords(), QualityFilter.Measure.WORDS),
                new QualityFilter("min_alpha_ratio", QualityFilter.Bound.MIN, f.minAlphaRatio(),
                        QualityFilter.Measure.ALPHA_RATIO),
                new QualityFilter("max_repeated_line_fraction", QualityFilter.Bound.MAX, f.maxRepeatedLineFraction(),
                        QualityFilter.Measure.REPEATED_LINE_FRACTION),
                new QualityFilter("min_mean_word_length", QualityFilter.Bound.MIN, f.minMeanWordLength(),
                        QualityFilter.Measure.MEAN_WORD_LENGTH),
                new QualityFilter("max_mean_word_length", QualityFilter.Bound.MAX, f.maxMeanWordLength(),
                        QualityFilter.Measure.MEAN_WORD_LENGTH));
    }

    private void stage(String name) {
        endStage();
        currentStage = name;
        stageStart = System.nanoTime();
        int index = java.util.Arrays.asList(STAGES).indexOf(name);
        progress.on(ProgressEvent.stage(JOB, name, index + 1, STAGES.length));
        sparkProgress.stage(name);
    }

    private void endStage() {
        if (currentStage != null) {
            stageSeconds.put(currentStage, (System.nanoTime() - stageStart) / 1e9);
            currentStage = null;
        }
    }

    private void metric(String name, double value) {
        progress.on(ProgressEvent.metric(JOB, name, value));
    }

    private void moveIntoPlace(Path staging, Path target) throws IOException {
        AtomicFile.syncDirectory(staging);
        Path old = null;
        if (Files.exists(target)) {
            old = target.resolveSibling("." + target.getFileName() + ".old-" + UUID.randomUUID());
            Files.move(target, old, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        }
        Files.move(staging, target, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        AtomicFile.syncDirectory(target.getParent());
        if (old != null) {
            Directories.deleteRecursively(old);
        }
    }
}
