package org.distillery.prep;

import com.carrotsearch.hppc.LongArrayList;
import com.carrotsearch.hppc.LongHashSet;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.LongConsumer;
import org.apache.spark.HashPartitioner;
import org.apache.spark.api.java.JavaRDDLike;
import scala.Tuple2;

/**
 * The 64-bit keys that occur more than once in a data set (content hashes, LSH band keys), found by
 * shuffling the keys alone: each partition sends every other partition its share as one primitive array,
 * and each partition files the keys it receives in a hash set of those seen and one of those seen again. Dedup then shuffles only the records whose key repeats,
 * which are few, instead of all of them.
 */
final class RepeatedKeys implements Serializable {
    /** The keys of one record. */
    @FunctionalInterface
    interface Keys<T> extends Serializable {
        void each(T record, LongConsumer key);
    }

    private final long[] keys;
    /** Built where the keys are looked up (once per executor for a broadcast), not shipped. */
    private transient LongHashSet set;

    private RepeatedKeys(long[] keys) {
        this.keys = keys;
    }

    /** How many keys repeat. */
    int size() {
        return keys.length;
    }

    boolean contains(long key) {
        LongHashSet s = set;
        if (s == null) {
            s = new LongHashSet(keys.length);
            s.addAll(keys);
            set = s;
        }
        return s.contains(key);
    }

    /** The keys seen more than once. */
    static <T> RepeatedKeys of(JavaRDDLike<T, ?> records, Keys<T> keys, int partitions) {
        List<long[]> repeated = records.mapPartitionsToPair(part -> {
            LongArrayList[] shares = new LongArrayList[partitions];
            for (int i = 0; i < partitions; i++) {
                shares[i] = new LongArrayList();
            }
            part.forEachRemaining(r -> keys.each(r, k -> shares[(int) Long.remainderUnsigned(k, partitions)].add(k)));
            List<Tuple2<Integer, long[]>> out = new ArrayList<>();
            for (int i = 0; i < partitions; i++) {
                if (!shares[i].isEmpty()) {
                    out.add(new Tuple2<>(i, shares[i].toArray()));
                }
            }
            return out.iterator();
        }).partitionBy(new HashPartitioner(partitions)).values().mapPartitions(part -> {
            LongHashSet seen = new LongHashSet();
            LongHashSet twice = new LongHashSet();
            part.forEachRemaining(share -> {
                for (long k : share) {
                    if (!seen.add(k)) {
                        twice.add(k);
                    }
                }
            });
            return List.of(twice.toArray()).iterator();
        }).collect();
        return new RepeatedKeys(repeated.stream().flatMapToLong(Arrays::stream).toArray());
    }
}
