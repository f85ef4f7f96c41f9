package org.distillery.prep;

import com.carrotsearch.hppc.ObjectLongHashMap;
import com.carrotsearch.hppc.cursors.ObjectLongCursor;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.apache.spark.SparkException;
import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.storage.StorageLevel;
import org.apache.spark.util.sketch.BloomFilter;
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
import org.distillery.core.shard.TokenShardWriter;
import org.distillery.core.spec.PrepSpec;
import org.distillery.core.spec.SourceFormat;
import org.distillery.core.spec.SpecReader;
import org.distillery.core.text.MinHasher;
import org.distillery.core.text.QualityFilter;
import org.distillery.core.text.TextNormalizer;
import org.distillery.core.tokenizer.BpeTokenizer;
import org.distillery.core.tokenizer.BpeTrainer;
import org.distillery.core.tokenizer.ByteLevel;
import org.distillery.core.tokenizer.Gpt2PreTokenizer;
import org.distillery.core.tokenizer.Gpt2VocabFiles;
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

    private Result runStages(SparkSession spark, List<SourceReader.Resolved> sources, Path staging, String shardDir,
                             List<JavaRDD<?>> cached) throws IOException, SparkException {
        JavaSparkContext sc = JavaSparkContext.fromSparkContext(spark.sparkContext());
        int partitions = spec.spark().partitions();

        // 1. Read, normalize and run the quality filters in one pass: each document is tagged with its source and
        //    the first rule that rejects it ("empty", a rule's name or "kept"), and one count gives every figure.
        stage("read");
        TextNormalizer normalizer = new TextNormalizer(spec.normalize().nfc(), spec.normalize().collapseWhitespace(),
                spec.normalize().stripControl());
        List<QualityFilter> rules = qualityRules();
        JavaRDD<Tuple2<Integer, String>> all = null;
        long bytesRead = 0;
        for (int i = 0; i < sources.size(); i++) {
            SourceReader.Resolved src = sources.get(i);
            int index = i;
            JavaRDD<String> texts = SourceReader.read(spark, src, partitions);
            // Spread evenly: a source of a few large files arrives in as few partitions. One that arrives in
            // enough is left where it is, which spares a shuffle of all its text: no result depends on where a
            // document sits (ids are content hashes, the shards are sorted).
            if (texts.getNumPartitions() < partitions) {
                texts = texts.repartition(partitions);
            }
            JavaRDD<Tuple2<Integer, String>> raw = texts.map(t -> new Tuple2<>(index, t));
            bytesRead += src.files().stream().mapToLong(SourceReader.SourceFile::bytes).sum();
            all = all == null ? raw : all.union(raw);
        }
        if (all.getNumPartitions() > partitions) {
            all = all.coalesce(partitions);
        }
        // A kept document gets its id, the SHA-256 of its text, in the same pass; the others are only counted.
        JavaPairRDD<String, Document> tagged = persist(all.mapToPair(d -> {
            String t = normalizer.normalize(d._2());
            String tag = t.isEmpty() ? "empty" : nullToKept(QualityFilter.firstRejecting(rules, t));
            return new Tuple2<>(d._1() + "\t" + tag, tag.equals("kept") ? new Document(Sha256.of(t), t) : null);
        }), cached);
        Map<String, Long> counts = countValues(tagged.keys());
        List<ShardManifest.Source> sourceStats = new ArrayList<>();
        Map<String, Long> byTag = new HashMap<>();
        for (int i = 0; i < sources.size(); i++) {
            SourceReader.Resolved src = sources.get(i);
            String prefix = i + "\t";
            long n = 0;
            for (Map.Entry<String, Long> e : counts.entrySet()) {
                if (e.getKey().startsWith(prefix)) {
                    n += e.getValue();
                    byTag.merge(e.getKey().substring(prefix.length()), e.getValue(), Long::sum);
                }
            }
            sourceStats.add(new ShardManifest.Source(src.name(), src.format().toString(), src.sha256(), n));
        }
        long documentsRead = sourceStats.stream().mapToLong(ShardManifest.Source::documents).sum();
        metric("documents_read", documentsRead);

        // 2. Quality filters: what each rule removed (counted above).
        stage("filter");
        Map<String, Long> removed = new LinkedHashMap<>();
        for (QualityFilter f : rules) {
            removed.put(f.name(), byTag.getOrDefault(f.name(), 0L));
            metric("removed." + f.name(), removed.get(f.name()));
        }
        long empty = byTag.getOrDefault("empty", 0L);
        long afterFilter = byTag.getOrDefault("kept", 0L);
        if (afterFilter == 0) {
            throw new DistilleryException("the corpus is empty after filtering: " + documentsRead + " documents read, "
                    + empty + " empty, removed by filter: " + removed + "; loosen the thresholds under 'filters' in the spec");
        }

        // 3a. Exact dedup by content hash.
        stage("dedup-exact");
        ExactDuplicates exact = exactDedup(sc, tagged.filter(t -> t._1().endsWith("\tkept")).values(), partitions);
        JavaPairRDD<String, String> unique = exact.unique();
        long exactDuplicates = exact.removed();
        long afterExact = afterFilter - exactDuplicates;
        metric("exact_duplicates", exactDuplicates);

        // 3b. Near dedup: MinHash LSH; a document goes when it is similar to one with a smaller hash.
        stage("dedup-near");
        JavaPairRDD<String, String> kept = unique;
        long nearDuplicates = 0;
        if (spec.dedup().near().enabled()) {
            NearDuplicates near = nearDedup(sc, unique, partitions, cached);
            kept = near.kept();
            nearDuplicates = near.removed();
        }
        metric("near_duplicates", nearDuplicates);
        long documentsKept = afterExact - nearDuplicates;
        double dedupRatio = (double) (exactDuplicates + nearDuplicates) / afterFilter;
        metric("dedup_ratio", dedupRatio);

        // 4. Split by salted content hash.
        stage("split");
        double valFraction = spec.split().valFraction();
        String salt = spec.split().salt();
        JavaPairRDD<String, String> keyed = persist(kept.mapToPair(d -> new Tuple2<>(
                (isVal(d._1(), salt, valFraction) ? ShardPartitioner.VAL : ShardPartitioner.TRAIN) + d._1(), d._2()))
                , cached);
        Map<Boolean, Long> splitCounts = countValues(keyed.keys().map(k -> k.startsWith(ShardPartitioner.VAL)));
        long valDocs = splitCounts.getOrDefault(true, 0L);
        long trainDocs = splitCounts.getOrDefault(false, 0L);
        if (trainDocs == 0 || valDocs == 0) {
            throw new DistilleryException("the split left " + trainDocs + " training and " + valDocs
                    + " validation documents out of " + documentsKept + "; both need at least one: add text or change"
                    + " split.val_fraction (" + valFraction + ")");
        }

        // 5. Tokenizer.
        stage("tokenizer");
        BpeTokenizer tokenizer = spec.tokenizer().trains()
                ? trainTokenizer(keyed.filter(d -> d._1().startsWith(ShardPartitioner.TRAIN)).values())
                : loadTokenizer();
        String tokenizerJson = HfTokenizerJson.toJson(tokenizer);
        String tokenizerSha = Sha256.of(tokenizerJson);
        AtomicFile.write(staging.resolve(TOKENIZER_FILE), tokenizerJson.getBytes(StandardCharsets.UTF_8));
        int eot = tokenizer.idOf(PrepSpec.END_OF_TEXT);
        if (eot < 0) {
            throw new DistilleryException("the tokenizer has no " + PrepSpec.END_OF_TEXT
                    + " token, which ends every document in the shards; add it to tokenizer.special_tokens");
        }
        metric("vocab_size", tokenizer.vocabSize());

        // 6. Tokenize and pack, one shard per partition, written by the executors.
        stage("shards");
        int width = TokenShard.widthFor(tokenizer.vocabSize());
        ShardPartitioner partitioner = new ShardPartitioner(spec.shards().train(), spec.shards().val());
        Broadcast<String> tokJson = sc.broadcast(tokenizerJson);
        // Documents are encoded where they are, in every partition at once, and their tokens travel to their
        // shards: token arrays shuffle at a fraction of the cost of the text (Java serialization writes an int[]
        // in bulk, a String a char at a time).
        List<TokenShardWriter.Summary> written = keyed
                .mapPartitionsToPair(docs -> encode(docs, tokenizerSha, tokJson.value(), eot), true)
                .repartitionAndSortWithinPartitions(partitioner)
                .mapPartitionsWithIndex((index, docs) -> writeShard(index, docs, partitioner, shardDir, width), true)
                .collect();
        List<TokenShardWriter.Summary> train = new ArrayList<>();
        List<TokenShardWriter.Summary> val = new ArrayList<>();
        for (TokenShardWriter.Summary s : written) {
            (s.file().startsWith("train") ? train : val).add(s);
        }
        train.sort(java.util.Comparator.comparing(TokenShardWriter.Summary::file));
        val.sort(java.util.Comparator.comparing(TokenShardWriter.Summary::file));

        // 7. Manifest, last: its presence is what makes the folder complete.
        stage("manifest");
        String sourceSha = Sha256.of(String.join("\n", sourceStats.stream().map(s -> s.name() + " " + s.sha256())
                .toList()));
        ShardManifest.Stats stats = new ShardManifest.Stats(documentsRead, empty, removed, exactDuplicates,
                nearDuplicates, dedupRatio, documentsKept, bytesRead);
        Map<String, ShardManifest.Split> splits = new LinkedHashMap<>();
        splits.put("train", split(train));
        splits.put("val", split(val));
        @SuppressWarnings("unchecked")
        Map<String, Object> specMap = SpecReader.YAML.convertValue(spec, Map.class);
        ShardManifest manifest = new ShardManifest(ShardManifest.FORMAT, ShardManifest.VERSION,
                Versions.distillery(), Instant.now().toString(),
                new ShardManifest.TokenizerRef(TOKENIZER_FILE, tokenizerSha, tokenizer.vocabSize()),
                TokenShard.dtypeName(width), eot, sourceSha, sourceStats, stats, splits, specMap);
        manifest.write(staging);
        metric("train_tokens", manifest.tokens("train"));
        metric("val_tokens", manifest.tokens("val"));
        endStage();
        return new Result(output, manifest, stageSeconds);
    }

    private static ShardManifest.Split split(List<TokenShardWriter.Summary> shards) {
        long docs = shards.stream().mapToLong(TokenShardWriter.Summary::documents).sum();
        long tokens = shards.stream().mapToLong(TokenShardWriter.Summary::tokens).sum();
        return new ShardManifest.Split(docs, tokens, shards);
    }

    /** Each document's tokens, ended by {@code <|endoftext|>}. */
    private static Iterator<Tuple2<String, int[]>> encode(Iterator<Tuple2<String, String>> docs, String tokenizerSha,
                                                          String tokenizerJson, int eot) {
        BpeTokenizer tok = TokenizerCache.get(tokenizerSha, tokenizerJson);
        BpeTokenizer.IntList ids = new BpeTokenizer.IntList(1 << 12);
        return new Iterator<>() {
            @Override
            public boolean hasNext() {
                return docs.hasNext();
            }

            @Override
            public Tuple2<String, int[]> next() {
                Tuple2<String, String> d = docs.next();
                ids.clear();
                tok.encodeTo(d._2(), ids);
                ids.add(eot);
                return new Tuple2<>(d._1(), ids.toArray());
            }
        };
    }

    /**
     * One executor's shard: written into the staging folder when it is local (shared with the driver), or
     * into a scratch file on the executor and then copied into the remote staging folder.
     */
    private static Iterator<TokenShardWriter.Summary> writeShard(int index, Iterator<Tuple2<String, int[]>> docs,
            ShardPartitioner partitioner, String stagingDir, int width) throws IOException {
        String name = String.format("%s-%05d.bin", partitioner.isTrain(index) ? "train" : "val",
                partitioner.shardIndex(index));
        Location staging = Location.parse(stagingDir, Path.of("/"));
        Path scratch = staging.isRemote() ? Files.createTempDirectory("distillery-shard-") : null;
        try (TokenShardWriter w = new TokenShardWriter((scratch != null ? scratch : staging.local()).resolve(name), width)) {
            while (docs.hasNext()) {
                int[] ids = docs.next()._2();
                w.addDocument(ids, ids.length);
            }
            TokenShardWriter.Summary summary = w.finish();
            if (scratch != null) {
                staging.files().upload(scratch.resolve(name), staging.resolve(name).remote());
            }
            return List.of(summary).iterator();
        } finally {
            if (scratch != null) {
                Directories.deleteRecursively(scratch);
            }
        }
    }

    private BpeTokenizer trainTokenizer(JavaRDD<String> trainDocs) {
        PrepSpec.Tokenizer t = spec.tokenizer();
        List<String> specials = t.specialTokens();
        Map<String, Long> wordCounts = countPieces(trainDocs, specials, spec.spark().partitions());
        BpeTrainer trainer = new BpeTrainer(t.vocabSize(), t.minFrequency(), specials);
        // The pairs are counted by the trainer from the unique words, which it walks anyway.
        metric("tokenizer_unique_words", wordCounts.size());
        return trainer.train(wordCounts, null, (done, total) -> {
            if (done % 64 == 0 || done == total) {
                progress.on(ProgressEvent.progress(JOB, "tokenizer", done, total, "merges"));
            }
        });
    }

    /**
     * The pre-tokenized pieces of the documents and their counts, the corpus-sized part of BPE training, on
     * Spark: each partition counts its pieces and sends each reducer its share as two arrays (pieces, counts);
     * each reducer merges its shares and turns each distinct piece into its byte-level form once.
     */
    static Map<String, Long> countPieces(JavaRDD<String> docs, List<String> specials, int partitions) {
        List<Tuple2<String[], long[]>> counted = docs.mapPartitionsToPair(it -> {
            ObjectLongHashMap<String> local = new ObjectLongHashMap<>();
            while (it.hasNext()) {
                for (String segment : withoutSpecials(it.next(), specials)) {
                    Gpt2PreTokenizer.split(segment, 0, segment.length(), (s, e) -> local.addTo(segment.substring(s, e), 1));
                }
            }
            // Each reducer's share, as parallel arrays.
            int[] sizes = new int[partitions];
            for (ObjectLongCursor<String> c : local) {
                sizes[Math.floorMod(c.key.hashCode(), partitions)]++;
            }
            String[][] pieces = new String[partitions][];
            long[][] counts = new long[partitions][];
            for (int i = 0; i < partitions; i++) {
                pieces[i] = new String[sizes[i]];
                counts[i] = new long[sizes[i]];
                sizes[i] = 0;
            }
            for (ObjectLongCursor<String> c : local) {
                int to = Math.floorMod(c.key.hashCode(), partitions);
                pieces[to][sizes[to]] = c.key;
                counts[to][sizes[to]++] = c.value;
            }
            List<Tuple2<Integer, Tuple2<String[], long[]>>> out = new ArrayList<>();
            for (int i = 0; i < partitions; i++) {
                if (sizes[i] > 0) {
                    out.add(new Tuple2<>(i, new Tuple2<>(pieces[i], counts[i])));
                }
            }
            return out.iterator();
        }).partitionBy(new org.apache.spark.HashPartitioner(partitions)).values().mapPartitions(shares -> {
            ObjectLongHashMap<String> merged = new ObjectLongHashMap<>();
            shares.forEachRemaining(share -> {
                for (int i = 0; i < share._1().length; i++) {
                    merged.addTo(share._1()[i], share._2()[i]);
                }
            });
            String[] pieces = new String[merged.size()];
            long[] counts = new long[merged.size()];
            int n = 0;
            for (ObjectLongCursor<String> c : merged) {
                pieces[n] = ByteLevel.encode(c.key);
                counts[n++] = c.value;
            }
            return List.of(new Tuple2<>(pieces, counts)).iterator();
        }).collect();
        Map<String, Long> out = new HashMap<>();
        for (Tuple2<String[], long[]> share : counted) {
            for (int i = 0; i < share._1().length; i++) {
                out.put(share._1()[i], share._2()[i]);
            }
        }
        return out;
    }

    static List<String> withoutSpecials(String text, List<String> specials) {
        List<String> out = new ArrayList<>();
        int from = 0;
        while (true) {
            int at = -1;
            String hit = null;
            for (String s : specials) {
                int i = text.indexOf(s, from);
                if (i >= 0 && (at < 0 || i < at)) {
                    at = i;
                    hit = s;
                }
            }
            if (hit == null) {
                out.add(text.substring(from));
                return out;
            }
            out.add(text.substring(from, at));
            from = at + hit.length();
        }
    }

    private BpeTokenizer loadTokenizer() {
        PrepSpec.Tokenizer t = spec.tokenizer();
        if (t.from() != null) {
            return HfTokenizerJson.read(resolve(t.from()));
        }
        return Gpt2VocabFiles.read(resolve(t.gpt2Vocab()), resolve(t.gpt2Merges()));
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
    private static <K, V> JavaPairRDD<K, V> persist(JavaPairRDD<K, V> rdd, List<JavaRDD<?>> cached) {
        JavaRDD<List<Tuple2<K, V>>> partitions = rdd.glom().persist(StorageLevel.MEMORY_AND_DISK());
        cached.add(partitions);
        return partitions.flatMapToPair(List::iterator);
    }

    /**
     * How often each value occurs, counted in each partition and merged on the driver: one pass and no
     * shuffle, where {@code countByValue} shuffles the partitions' counts first (for a handful of values).
     */
    private static <T> Map<T, Long> countValues(JavaRDD<T> values) {
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

    /** The documents exact dedup keeps, one per text (id → text), and how many it removed. */
    record ExactDuplicates(JavaPairRDD<String, String> unique, long removed) {
    }

    /**
     * Exact dedup by content hash. Most texts occur once, so the ids seen more than once are found first, by
     * shuffling only their 64-bit keys ({@link RepeatedKeys}); only the documents whose id repeats are
     * shuffled to keep one of each, and the rest stay where they are.
     */
    private static ExactDuplicates exactDedup(JavaSparkContext sc, JavaRDD<Document> docs, int partitions) {
        Broadcast<RepeatedKeys> repeats = sc.broadcast(RepeatedKeys.of(docs, (d, key) -> key.accept(idKey(d.id())),
                partitions));
        // id → (text, copies): one of each text, and how many there were.
        JavaPairRDD<String, Tuple2<String, Long>> repeated = docs
                .filter(d -> repeats.value().contains(idKey(d.id())))
                .mapToPair(d -> new Tuple2<>(d.id(), new Tuple2<>(d.text(), 1L)))
                .reduceByKey((x, y) -> new Tuple2<>(x._1(), x._2() + y._2()), partitions);
        long removed = repeated.values().map(c -> c._2() - 1).fold(0L, Long::sum);
        JavaPairRDD<String, String> once = docs.filter(d -> !repeats.value().contains(idKey(d.id())))
                .mapToPair(d -> new Tuple2<>(d.id(), d.text()));
        // The union's partitions are the inputs' and the shuffle's: back to the spec's count, without a shuffle.
        return new ExactDuplicates(once.union(repeated.mapValues(Tuple2::_1)).coalesce(partitions), removed);
    }

    /** The first 64 bits of a document id. */
    private static long idKey(String id) {
        return Long.parseUnsignedLong(id, 0, 16, 16);
    }

    /** The documents near dedup keeps, and how many it removed. */
    record NearDuplicates(JavaPairRDD<String, String> kept, long removed) {
    }

    /**
     * Near dedup by MinHash LSH. Every band bucket holding several documents compares its members with its
     * smallest member; a member goes when its signature agrees with the smallest one's on at least
     * {@code jaccard_threshold} of the permutations. Most buckets hold one document, so the work is cut to
     * the few that matter: the band keys seen more than once are found first, by shuffling only the keys
     * ({@link RepeatedKeys}), and only documents in such a bucket travel to it, with their signatures, in one
     * shuffle. (A band key is its band's rows hashed from a band-specific seed: two buckets of different bands
     * would merge only on a 64-bit collision, and then the signatures still decide.) The duplicates found are
     * removed through a Bloom filter: a false positive only costs a document an exact look that keeps it.
     */
    private NearDuplicates nearDedup(JavaSparkContext sc, JavaPairRDD<String, String> docs, int partitions,
                                     List<JavaRDD<?>> cached) {
        PrepSpec.NearDedup n = spec.dedup().near();
        MinHasher hasher = new MinHasher(n.shingleWords(), n.bands(), n.rows(), n.seed());
        double threshold = n.jaccardThreshold();
        JavaPairRDD<String, int[]> sigs = persist(docs.mapValues(hasher::signature), cached);
        // 1. Buckets with two or more documents.
        Broadcast<RepeatedKeys> shared = sc.broadcast(RepeatedKeys.of(sigs, (d, key) -> {
            for (long k : hasher.bandKeys(d._2())) {
                key.accept(k);
            }
        }, partitions));
        // 2. Their members, grouped by bucket with their signatures: those like the bucket's smallest member go.
        List<String> duplicates = sigs.flatMapToPair(d -> {
            List<Tuple2<Long, Tuple2<String, int[]>>> out = new ArrayList<>();
            for (long k : hasher.bandKeys(d._2())) {
                if (shared.value().contains(k)) {
                    out.add(new Tuple2<>(k, d));
                }
            }
            return out.iterator();
        }).groupByKey(partitions).flatMap(bucket -> {
            List<Tuple2<String, int[]>> members = new ArrayList<>();
            Tuple2<String, int[]> smallest = null;
            for (Tuple2<String, int[]> m : bucket._2()) {
                members.add(m);
                if (smallest == null || m._1().compareTo(smallest._1()) < 0) {
                    smallest = m;
                }
            }
            List<String> out = new ArrayList<>();
            for (Tuple2<String, int[]> m : members) {
                if (!m._1().equals(smallest._1()) && MinHasher.similarity(m._2(), smallest._2()) >= threshold) {
                    out.add(m._1());
                }
            }
            return out.iterator();
        }).distinct(partitions).collect();
        if (duplicates.isEmpty()) {
            return new NearDuplicates(docs, 0);
        }
        // 3. Remove them: documents the filter flags go through an exact subtraction, the rest stay as they are.
        Broadcast<BloomFilter> isDuplicate = sc.broadcast(bloom(duplicates));
        JavaPairRDD<String, Boolean> exact = sc.parallelize(duplicates, 1).mapToPair(id -> new Tuple2<>(id, true));
        JavaPairRDD<String, String> flagged = docs.filter(d -> isDuplicate.value().mightContainString(d._1()));
        return new NearDuplicates(docs.filter(d -> !isDuplicate.value().mightContainString(d._1()))
                .union(flagged.subtractByKey(exact, partitions)).coalesce(partitions), duplicates.size());
    }

    /** A Bloom filter of these ids with 1% false positives. */
    private static BloomFilter bloom(List<String> ids) {
        BloomFilter f = BloomFilter.create(Math.max(1, ids.size()), 0.01);
        ids.forEach(f::putString);
        return f;
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

    private static String nullToKept(String s) {
        return s == null ? "kept" : s;
    }

    /** Validation if the salted hash, read as a fraction of 2^32, falls below val_fraction. */
    static boolean isVal(String id, String salt, double valFraction) {
        String h = salt.isEmpty() ? id : Sha256.of(salt + id);
        long prefix = Long.parseLong(h.substring(0, 8), 16);
        return prefix < (long) (valFraction * (1L << 32));
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
