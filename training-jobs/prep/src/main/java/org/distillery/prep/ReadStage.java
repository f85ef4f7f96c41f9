package org.distillery.prep;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.sql.SparkSession;
import org.distillery.core.io.Sha256;
import org.distillery.core.shard.ShardManifest;
import org.distillery.core.spec.PrepSpec;
import org.distillery.core.text.QualityFilter;
import org.distillery.core.text.TextNormalizer;
import scala.Tuple2;

/**
 * Prep's first stage: read every source, normalize each document and run the quality filters, in one pass.
 * Each document is tagged with its source and the first rule that rejects it ({@code empty}, a rule's name,
 * or {@code kept}); a kept one gets its id, the SHA-256 of its text. One count gives every figure.
 */
final class ReadStage {
    static final String KEPT = "kept";
    static final String EMPTY = "empty";

    private final List<SourceReader.Resolved> sources;
    private final PrepSpec.Normalize normalize;
    private final List<QualityFilter> rules;
    private final int partitions;

    ReadStage(List<SourceReader.Resolved> sources, PrepSpec.Normalize normalize, List<QualityFilter> rules,
              int partitions) {
        this.sources = sources;
        this.normalize = normalize;
        this.rules = rules;
        this.partitions = partitions;
    }

    /**
     * What was read: the tagged documents ({@code "<source index>\t<tag>"} → the document, null unless kept),
     * each source's document count, the count of each tag, and the bytes read.
     */
    record Output(JavaPairRDD<String, PrepJob.Document> tagged, List<ShardManifest.Source> sources,
                  Map<String, Long> byTag, long bytesRead) {
        long documentsRead() {
            return sources.stream().mapToLong(ShardManifest.Source::documents).sum();
        }

        long tagged(String tag) {
            return byTag.getOrDefault(tag, 0L);
        }

        JavaRDD<PrepJob.Document> kept() {
            return tagged.filter(t -> t._1().endsWith("\t" + KEPT)).values();
        }
    }

    Output run(SparkSession spark, List<JavaRDD<?>> cached) {
        TextNormalizer normalizer = new TextNormalizer(normalize.nfc(), normalize.collapseWhitespace(),
                normalize.stripControl());
        List<QualityFilter> rules = this.rules;
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
        JavaPairRDD<String, PrepJob.Document> tagged = PrepJob.persist(all.mapToPair(d -> {
            String t = normalizer.normalize(d._2());
            String rejectedBy = t.isEmpty() ? EMPTY : QualityFilter.firstRejecting(rules, t);
            String tag = rejectedBy == null ? KEPT : rejectedBy;
            return new Tuple2<>(d._1() + "\t" + tag, tag.equals(KEPT) ? new PrepJob.Document(Sha256.of(t), t) : null);
        }), cached);
        Map<String, Long> counts = PrepJob.countValues(tagged.keys());
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
        return new Output(tagged, sourceStats, byTag, bytesRead);
    }
}
