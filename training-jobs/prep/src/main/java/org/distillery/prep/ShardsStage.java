package org.distillery.prep;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Iterator;
import java.util.List;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.distillery.core.io.Directories;
import org.distillery.core.io.Location;
import org.distillery.core.shard.ShardManifest;
import org.distillery.core.shard.TokenShard;
import org.distillery.core.shard.TokenShardWriter;
import org.distillery.core.spec.PrepSpec;
import org.distillery.core.tokenizer.BpeTokenizer;
import scala.Tuple2;

/**
 * Prep's token shards: every document tokenized and ended by {@code <|endoftext|>}, then packed into the
 * spec's number of train and validation shards, each written by the executor that holds it, sorted by id.
 */
final class ShardsStage {
    private final PrepSpec.Shards settings;
    /** The staging folder the executors write to: a local path or a Hadoop file system URI. */
    private final String stagingDir;

    ShardsStage(PrepSpec.Shards settings, String stagingDir) {
        this.settings = settings;
        this.stagingDir = stagingDir;
    }

    /** The shards written, in file order, and the bytes per token they hold. */
    record Output(List<TokenShardWriter.Summary> train, List<TokenShardWriter.Summary> val, int width) {
        static ShardManifest.Split split(List<TokenShardWriter.Summary> shards) {
            long docs = shards.stream().mapToLong(TokenShardWriter.Summary::documents).sum();
            long tokens = shards.stream().mapToLong(TokenShardWriter.Summary::tokens).sum();
            return new ShardManifest.Split(docs, tokens, shards);
        }
    }

    Output run(JavaSparkContext sc, SplitStage.Output split, BpeTokenizer tokenizer, String tokenizerJson,
               String tokenizerSha, int eot) {
        int width = TokenShard.widthFor(tokenizer.vocabSize());
        ShardPartitioner partitioner = new ShardPartitioner(settings.train(), settings.val());
        Broadcast<String> tokJson = sc.broadcast(tokenizerJson);
        String shardDir = stagingDir;
        // Documents are encoded where they are, in every partition at once, and their tokens travel to their
        // shards: token arrays shuffle at a fraction of the cost of the text (Java serialization writes an int[]
        // in bulk, a String a char at a time).
        List<TokenShardWriter.Summary> written = split.keyed()
                .mapPartitionsToPair(docs -> encode(docs, tokenizerSha, tokJson.value(), eot), true)
                .repartitionAndSortWithinPartitions(partitioner)
                .mapPartitionsWithIndex((index, docs) -> writeShard(index, docs, partitioner, shardDir, width), true)
                .collect();
        List<TokenShardWriter.Summary> train = new ArrayList<>();
        List<TokenShardWriter.Summary> val = new ArrayList<>();
        for (TokenShardWriter.Summary s : written) {
            (s.file().startsWith("train") ? train : val).add(s);
        }
        train.sort(Comparator.comparing(TokenShardWriter.Summary::file));
        val.sort(Comparator.comparing(TokenShardWriter.Summary::file));
        return new Output(train, val, width);
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
}
