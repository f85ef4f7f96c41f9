package org.distillery.prep;

import com.carrotsearch.hppc.LongArrayList;
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
 * each share is sorted and scanned for repeats. Dedup then shuffles only the records whose key repeats,
 * which are few, instead of all of them.
 */
final class RepeatedKeys {
    /** The keys of one record. */
    @FunctionalInterface
    interface Keys<T> extends Serializable {
        void each(T record, LongConsumer key);
    }

    private RepeatedKeys() {
    }

    /** The keys seen more than once, sorted: look one up with {@link #contains}. */
    static <T> long[] of(JavaRDDLike<T, ?> records, Keys<T> keys, int partitions) {
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
            LongArrayList all = new LongArrayList();
            part.forEachRemaining(a -> all.add(a, 0, a.length));
            long[] sorted = all.toArray();
            Arrays.sort(sorted);
            LongArrayList twice = new LongArrayList();
            for (int i = 1; i < sorted.length; i++) {
                if (sorted[i] == sorted[i - 1] && (twice.isEmpty() || twice.get(twice.size() - 1) != sorted[i])) {
                    twice.add(sorted[i]);
                }
            }
            return List.of(twice.toArray()).iterator();
        }).collect();
        long[] out = repeated.stream().flatMapToLong(Arrays::stream).toArray();
        Arrays.sort(out);
        return out;
    }

    static boolean contains(long[] sortedKeys, long key) {
        return Arrays.binarySearch(sortedKeys, key) >= 0;
    }
}
