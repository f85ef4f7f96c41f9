package org.distillery.model;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.distillery.core.io.Sha256;
import org.distillery.core.shard.ShardManifest;
import org.distillery.core.shard.TokenShardWriter;
import org.distillery.core.tokenizer.BpeTokenizer;
import org.distillery.core.tokenizer.ByteLevel;
import org.distillery.core.tokenizer.HfTokenizerJson;

/**
 * A prep output written with the real shard writer and manifest: a byte-level tokenizer (no
 * merges, 257 tokens) over sentences drawn from a small grammar, which a tiny GPT learns in tens of
 * steps. {@code variant} changes the tokenizer (an extra special token) to test mismatches.
 */
public final class TinyPrep {
    private static final String[] SUBJECTS = {"the cat", "a dog", "my friend", "the old man", "her sister"};
    private static final String[] VERBS = {"sat on", "looked at", "walked to", "talked about", "found"};
    private static final String[] OBJECTS = {"the mat", "a red door", "the river", "his garden", "the station"};

    private TinyPrep() {
    }

    public static Path write(Path dir, int documents, boolean variant) throws IOException {
        Files.createDirectories(dir);
        Map<String, Integer> vocab = new LinkedHashMap<>();
        List<String> specials = new ArrayList<>(List.of("<|endoftext|>"));
        if (variant) {
            specials.add("<|pad|>");
        }
        for (String s : specials) {
            vocab.put(s, vocab.size());
        }
        for (int b = 0; b < 256; b++) {
            vocab.put(String.valueOf(ByteLevel.charOf(b)), vocab.size());
        }
        BpeTokenizer tok = new BpeTokenizer(vocab, List.of(), specials);
        HfTokenizerJson.write(tok, dir.resolve("tokenizer.json"));
        SplittableRandom r = new SplittableRandom(7);
        Map<String, ShardManifest.Split> splits = new LinkedHashMap<>();
        for (String split : List.of("train", "val")) {
            int docs = split.equals("train") ? documents : Math.max(4, documents / 10);
            List<TokenShardWriter.Summary> shards = new ArrayList<>();
            long tokens = 0;
            for (int s = 0; s < 2; s++) {
                String name = split + "-0000" + s + ".bin";
                try (TokenShardWriter w = new TokenShardWriter(dir.resolve(name), 2)) {
                    for (int d = 0; d < docs / 2; d++) {
                        StringBuilder text = new StringBuilder();
                        for (int k = 0; k < 4; k++) {
                            text.append(SUBJECTS[r.nextInt(SUBJECTS.length)]).append(' ')
                                    .append(VERBS[r.nextInt(VERBS.length)]).append(' ')
                                    .append(OBJECTS[r.nextInt(OBJECTS.length)]).append(". ");
                        }
                        int[] ids = tok.encode(text.toString());
                        int[] withEot = java.util.Arrays.copyOf(ids, ids.length + 1);
                        withEot[ids.length] = 0;
                        w.addDocument(withEot, withEot.length);
                    }
                    TokenShardWriter.Summary sum = w.finish();
                    shards.add(sum);
                    tokens += sum.tokens();
                }
            }
            splits.put(split, new ShardManifest.Split(docs / 2 * 2, tokens, shards));
        }
        ShardManifest m = new ShardManifest(ShardManifest.FORMAT, ShardManifest.VERSION, "test", Instant.now().toString(),
                new ShardManifest.TokenizerRef("tokenizer.json", Sha256.of(dir.resolve("tokenizer.json")), tok.vocabSize()),
                "uint16", 0, "test", List.of(), null, splits, Map.of());
        m.write(dir);
        return dir;
    }
}
