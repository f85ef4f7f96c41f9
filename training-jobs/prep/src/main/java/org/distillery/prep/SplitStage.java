package org.distillery.prep;

import java.util.List;
import java.util.Map;
import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaRDD;
import org.distillery.core.io.Sha256;
import org.distillery.core.spec.PrepSpec;
import scala.Tuple2;

/**
 * Prep's train/validation split, by salted content hash: a document's split depends on its text alone, so it
 * is the same on every run, whatever else the corpus holds.
 */
final class SplitStage {
    private final PrepSpec.Split settings;

    SplitStage(PrepSpec.Split settings) {
        this.settings = settings;
    }

    /** The documents keyed by split prefix and id ({@link ShardPartitioner#TRAIN} or VAL, then the id), and the counts. */
    record Output(JavaPairRDD<String, String> keyed, long trainDocuments, long valDocuments) {
        JavaRDD<String> trainTexts() {
            return keyed.filter(d -> d._1().startsWith(ShardPartitioner.TRAIN)).values();
        }
    }

    Output run(JavaPairRDD<String, String> docs, List<JavaRDD<?>> cached) {
        double valFraction = settings.valFraction();
        String salt = settings.salt();
        JavaPairRDD<String, String> keyed = PrepJob.persist(docs.mapToPair(d -> new Tuple2<>(
                (isVal(d._1(), salt, valFraction) ? ShardPartitioner.VAL : ShardPartitioner.TRAIN) + d._1(), d._2())),
                cached);
        Map<Boolean, Long> counts = PrepJob.countValues(keyed.keys().map(k -> k.startsWith(ShardPartitioner.VAL)));
        return new Output(keyed, counts.getOrDefault(false, 0L), counts.getOrDefault(true, 0L));
    }

    /** Validation if the salted hash, read as a fraction of 2^32, falls below val_fraction. */
    static boolean isVal(String id, String salt, double valFraction) {
        String h = salt.isEmpty() ? id : Sha256.of(salt + id);
        long prefix = Long.parseLong(h.substring(0, 8), 16);
        return prefix < (long) (valFraction * (1L << 32));
    }
}
