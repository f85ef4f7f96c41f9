package org.distillery.prep;

import java.util.ArrayList;
import java.util.List;
import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.util.sketch.BloomFilter;
import org.distillery.core.spec.PrepSpec;
import org.distillery.core.text.MinHasher;
import scala.Tuple2;

/**
 * Prep's near dedup, by MinHash LSH. Every band bucket holding several documents compares its members with its
 * smallest member; a member goes when its signature agrees with the smallest one's on at least
 * {@code jaccard_threshold} of the permutations. Most buckets hold one document, so the work is cut to the few
 * that matter: the band keys seen more than once are found first, by shuffling only the keys
 * ({@link RepeatedKeys}), and only documents in such a bucket travel to it, with their signatures, in one
 * shuffle. (A band key is its band's rows hashed from a band-specific seed: two buckets of different bands
 * would merge only on a 64-bit collision, and then the signatures still decide.) The duplicates found are
 * removed through a Bloom filter: a false positive only costs a document an exact look that keeps it.
 */
final class NearDedupStage {
    private final PrepSpec.NearDedup settings;
    private final int partitions;

    NearDedupStage(PrepSpec.NearDedup settings, int partitions) {
        this.settings = settings;
        this.partitions = partitions;
    }

    /** The documents kept, and how many were removed. */
    record Output(JavaPairRDD<String, String> kept, long removed) {
    }

    Output run(JavaSparkContext sc, JavaPairRDD<String, String> docs, List<JavaRDD<?>> cached) {
        if (!settings.enabled()) {
            return new Output(docs, 0);
        }
        int partitions = this.partitions;
        MinHasher hasher = new MinHasher(settings.shingleWords(), settings.bands(), settings.rows(), settings.seed());
        double threshold = settings.jaccardThreshold();
        JavaPairRDD<String, int[]> sigs = PrepJob.persist(docs.mapValues(hasher::signature), cached);
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
            return new Output(docs, 0);
        }
        // 3. Remove them: documents the filter flags go through an exact subtraction, the rest stay as they are.
        Broadcast<BloomFilter> isDuplicate = sc.broadcast(bloom(duplicates));
        JavaPairRDD<String, Boolean> exact = sc.parallelize(duplicates, 1).mapToPair(id -> new Tuple2<>(id, true));
        JavaPairRDD<String, String> flagged = docs.filter(d -> isDuplicate.value().mightContainString(d._1()));
        return new Output(docs.filter(d -> !isDuplicate.value().mightContainString(d._1()))
                .union(flagged.subtractByKey(exact, partitions)).coalesce(partitions), duplicates.size());
    }

    /** A Bloom filter of these ids with 1% false positives. */
    private static BloomFilter bloom(List<String> ids) {
        BloomFilter f = BloomFilter.create(Math.max(1, ids.size()), 0.01);
        ids.forEach(f::putString);
        return f;
    }
}
