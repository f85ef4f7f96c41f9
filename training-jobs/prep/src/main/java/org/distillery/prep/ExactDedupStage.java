package org.distillery.prep;

import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import scala.Tuple2;

/**
 * Prep's exact dedup, by content hash. Most texts occur once, so the ids seen more than once are found first,
 * by shuffling only their 64-bit keys ({@link RepeatedKeys}); only the documents whose id repeats are
 * shuffled to keep one of each, and the rest stay where they are.
 */
final class ExactDedupStage {
    private final int partitions;

    ExactDedupStage(int partitions) {
        this.partitions = partitions;
    }

    /** The documents kept, one per text (id → text), and how many were removed. */
    record Output(JavaPairRDD<String, String> unique, long removed) {
    }

    Output run(JavaSparkContext sc, JavaRDD<PrepJob.Document> docs) {
        int partitions = this.partitions;
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
        return new Output(once.union(repeated.mapValues(Tuple2::_1)).coalesce(partitions), removed);
    }

    /** The first 64 bits of a document id. */
    private static long idKey(String id) {
        return Long.parseUnsignedLong(id, 0, 16, 16);
    }
}
