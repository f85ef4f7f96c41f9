package org.distillery.prep;

import com.carrotsearch.hppc.ObjectLongHashMap;
import com.carrotsearch.hppc.cursors.ObjectLongCursor;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import org.apache.spark.api.java.JavaRDD;
import org.distillery.core.progress.ProgressEvent;
import org.distillery.core.progress.ProgressListener;
import org.distillery.core.spec.PrepSpec;
import org.distillery.core.tokenizer.BpeTokenizer;
import org.distillery.core.tokenizer.BpeTrainer;
import org.distillery.core.tokenizer.ByteLevel;
import org.distillery.core.tokenizer.Gpt2PreTokenizer;
import org.distillery.core.tokenizer.Gpt2VocabFiles;
import org.distillery.core.tokenizer.HfTokenizerJson;
import scala.Tuple2;

/**
 * Prep's tokenizer: a byte-level BPE trained on the training split (its pieces counted on Spark, the merges
 * learnt on the driver), or one the spec names (a tokenizer.json, or GPT-2's vocab and merges).
 */
final class TokenizerStage {
    private final PrepSpec.Tokenizer settings;
    private final int partitions;
    /** A path of the spec to a file: relative to the spec, or a fetched dataset's file. */
    private final Function<String, Path> resolve;
    private final ProgressListener progress;

    TokenizerStage(PrepSpec.Tokenizer settings, int partitions, Function<String, Path> resolve,
                   ProgressListener progress) {
        this.settings = settings;
        this.partitions = partitions;
        this.resolve = resolve;
        this.progress = progress;
    }

    BpeTokenizer run(SplitStage.Output split) {
        return settings.trains() ? train(split.trainTexts()) : load();
    }

    private BpeTokenizer train(JavaRDD<String> trainDocs) {
        List<String> specials = settings.specialTokens();
        Map<String, Long> wordCounts = countPieces(trainDocs, specials, partitions);
        BpeTrainer trainer = new BpeTrainer(settings.vocabSize(), settings.minFrequency(), specials);
        // The pairs are counted by the trainer from the unique words, which it walks anyway.
        progress.on(ProgressEvent.metric(PrepJob.JOB, "tokenizer_unique_words", wordCounts.size()));
        return trainer.train(wordCounts, null, (done, total) -> {
            if (done % 64 == 0 || done == total) {
                progress.on(ProgressEvent.progress(PrepJob.JOB, "tokenizer", done, total, "merges"));
            }
        });
    }

    private BpeTokenizer load() {
        if (settings.from() != null) {
            return HfTokenizerJson.read(resolve.apply(settings.from()));
        }
        return Gpt2VocabFiles.read(resolve.apply(settings.gpt2Vocab()), resolve.apply(settings.gpt2Merges()));
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
}
