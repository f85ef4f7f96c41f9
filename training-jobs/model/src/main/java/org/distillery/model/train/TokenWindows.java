package org.distillery.model.train;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.distillery.core.shard.ShardFormatException;
import org.distillery.core.shard.ShardManifest;
import org.distillery.core.shard.TokenShardReader;
import org.distillery.core.shard.TokenShardWriter;
import org.distillery.model.Gpt;

/**
 * Windows of {@code time + 1} tokens from one split's shards, read through memory maps: the corpus
 * never lands on the heap. Training windows start at positions drawn from a generator seeded by
 * (seed, step, micro-batch), so the data order is a pure function of the step: a resumed run sees
 * exactly the windows an uninterrupted one would. Evaluation windows are fixed and evenly spread.
 */
public final class TokenWindows implements AutoCloseable {
    private final String split;
    private final List<TokenShardReader> shards = new ArrayList<>();
    private final int vocabSize;

    private TokenWindows(String split, int vocabSize) {
        this.split = split;
        this.vocabSize = vocabSize;
    }

    /** Opens a split's shards, checking each against the manifest's SHA-256. */
    public static TokenWindows open(Path dir, ShardManifest manifest, String split) throws IOException {
        ShardManifest.Split s = manifest.splits().get(split);
        if (s == null || s.shards().isEmpty()) {
            throw new ShardFormatException(dir.resolve(ShardManifest.FILE_NAME), "has no '" + split + "' shards");
        }
        TokenWindows w = new TokenWindows(split, manifest.tokenizer().vocabSize());
        try {
            for (TokenShardWriter.Summary sum : s.shards()) {
                w.shards.add(TokenShardReader.open(dir.resolve(sum.file()), sum.sha256()));
            }
        } catch (IOException | RuntimeException e) {
            w.close();
            throw e;
        }
        return w;
    }

    public long tokens() {
        long n = 0;
        for (TokenShardReader r : shards) {
            n += r.tokens();
        }
        return n;
    }

    /** The longest window a model can be trained on: block_size + 1 tokens must fit in a shard. */
    public long longestShard() {
        long m = 0;
        for (TokenShardReader r : shards) {
            m = Math.max(m, r.tokens());
        }
        return m;
    }

    /** Random windows for one micro-batch of one optimizer step. */
    public Gpt.Batch randomBatch(long seed, long step, int micro, int batch, int time) {
        SplittableRandom rng = new SplittableRandom(mix(seed, step, micro));
        long usable = usableStarts(time);
        return batch(batch, time, b -> rng.nextLong(usable));
    }

    /**
     * Evaluation batch {@code index} of {@code count}: windows spaced evenly over the whole split, the
     * same ones every time, so validation losses are comparable across steps and runs.
     */
    public Gpt.Batch evalBatch(int index, int count, int batch, int time) {
        long usable = usableStarts(time);
        long windows = (long) count * batch;
        return batch(batch, time, b -> usable * (index * (long) batch + b) / windows);
    }

    /**
     * How many windows of {@code time + 1} tokens follow each other through the split's shards, each
     * starting on the last token of the one before: every position but each shard's last is a target once.
     */
    public long consecutiveWindows(int time) {
        long n = 0;
        for (TokenShardReader r : shards) {
            n += Math.max(0, (r.tokens() - 1) / time);
        }
        return n;
    }

    /** Consecutive windows {@code [first, first + batch)} (see {@link #consecutiveWindows}) as one batch. */
    public Gpt.Batch consecutiveBatch(long first, int batch, int time) {
        return batch(batch, time, b -> {
            long w = first + b;
            long before = 0; // usable starts of the shards before the window's shard
            for (TokenShardReader r : shards) {
                long n = Math.max(0, (r.tokens() - 1) / time);
                if (w < n) {
                    return before + w * time;
                }
                w -= n;
                before += Math.max(0, r.tokens() - time);
            }
            throw new IndexOutOfBoundsException("window " + (first + b) + " of " + consecutiveWindows(time));
        });
    }

    /** How many windows of {@code time + 1} tokens start in the split, counted over its shards in order. */
    private long usableStarts(int time) {
        long total = 0;
        for (TokenShardReader r : shards) {
            total += Math.max(0, r.tokens() - time);
        }
        if (total <= 0) {
            throw new IllegalStateException("no " + split + " shard holds " + (time + 1) + " tokens");
        }
        return total;
    }

    /** A batch whose row b is the window starting at position {@code start(b)} of {@link #usableStarts}. */
    private Gpt.Batch batch(int batch, int time, java.util.function.IntToLongFunction start) {
        int[] window = new int[time + 1];
        int[] in = new int[batch * time];
        int[] tg = new int[batch * time];
        for (int b = 0; b < batch; b++) {
            long pos = start.applyAsLong(b);
            for (TokenShardReader r : shards) {
                long span = Math.max(0, r.tokens() - time);
                if (pos < span) {
                    read(r, pos, window);
                    break;
                }
                pos -= span;
            }
            System.arraycopy(window, 0, in, b * time, time);
            System.arraycopy(window, 1, tg, b * time, time);
        }
        return new Gpt.Batch(in, tg, batch, time);
    }

    private void read(TokenShardReader r, long from, int[] window) {
        r.read(from, window);
        for (int id : window) {
            if (id < 0 || id >= vocabSize) {
                throw new ShardFormatException(r.file(), "holds token id " + id + ", outside the tokenizer's "
                        + vocabSize + "-token vocabulary");
            }
        }
    }

    /** Adds every token's count into {@code counts}; returns the number of tokens. */
    public long countTokens(long[] counts) {
        long total = 0;
        int[] chunk = new int[1 << 16];
        for (TokenShardReader r : shards) {
            for (long from = 0; from < r.tokens(); from += chunk.length) {
                int n = (int) Math.min(chunk.length, r.tokens() - from);
                int[] dst = n == chunk.length ? chunk : new int[n];
                r.read(from, dst);
                for (int id : dst) {
                    counts[id]++;
                }
                total += n;
            }
        }
        return total;
    }

    /** SplitMix64 of (seed, step, micro): independent streams per micro-batch. */
    public static long mix(long seed, long step, long micro) {
        long z = seed * 0x9E3779B97F4A7C15L + step * 0xBF58476D1CE4E5B9L + micro * 0x94D049BB133111EBL;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    @Override
    public void close() throws IOException {
        for (TokenShardReader r : shards) {
            r.close();
        }
    }
}
