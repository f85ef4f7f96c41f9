package org.distillery.prep;

import org.apache.spark.Partitioner;

/**
 * Sends each document to its shard by split and content hash alone: keys are "t:" or "v:" plus the
 * document's SHA-256 in hex, and shard i of a split takes the i-th equal slice of the hash space.
 * So which shard holds a document depends on nothing a cluster decides (executors, partitions,
 * task order), and shards come out byte-identical on any cluster.
 */
final class ShardPartitioner extends Partitioner {
    static final String TRAIN = "t:";
    static final String VAL = "v:";

    private final int trainShards;
    private final int valShards;

    ShardPartitioner(int trainShards, int valShards) {
        this.trainShards = trainShards;
        this.valShards = valShards;
    }

    @Override
    public int numPartitions() {
        return trainShards + valShards;
    }

    @Override
    public int getPartition(Object key) {
        String k = (String) key;
        long prefix = Long.parseLong(k.substring(2, 10), 16); // the top 32 bits of the hash
        if (k.startsWith(TRAIN)) {
            return (int) (prefix * trainShards >>> 32);
        }
        return trainShards + (int) (prefix * valShards >>> 32);
    }

    boolean isTrain(int partition) {
        return partition < trainShards;
    }

    int shardIndex(int partition) {
        return isTrain(partition) ? partition : partition - trainShards;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ShardPartitioner p && p.trainShards == trainShards && p.valShards == valShards;
    }

    @Override
    public int hashCode() {
        return 31 * trainShards + valShards;
    }
}
