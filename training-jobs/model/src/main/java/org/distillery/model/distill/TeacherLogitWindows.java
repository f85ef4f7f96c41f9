package org.distillery.model.distill;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.distillery.core.shard.ShardFormatException;
import org.distillery.core.shard.TeacherLogits;
import org.distillery.core.shard.TeacherLogitsManifest;
import org.distillery.model.DistillationLoss;
import org.distillery.model.Gpt;
import org.distillery.model.train.TokenWindows;

/**
 * The windows of a {@code teacher-logits} output, drawn for training as {@link TokenWindows} draws
 * token windows: from a generator seeded by (seed, step, micro-batch), so a resumed run sees the
 * batches an uninterrupted one would. Each draw is a batch of inputs and next tokens together with
 * the teacher's top-k buckets for every one of its positions.
 */
public final class TeacherLogitWindows implements AutoCloseable {
    private final Path dir;
    private final TeacherLogitsManifest manifest;
    private final List<TeacherLogits.Reader> shards = new ArrayList<>();
    /** {@code starts[i]}: the global index of shard i's first window. */
    private final long[] starts;

    /** One draw: the batch and the teacher's view of each of its rows. */
    public record Sampled(Gpt.Batch batch, DistillationLoss.TopK teacher) {
    }

    private TeacherLogitWindows(Path dir, TeacherLogitsManifest manifest) {
        this.dir = dir;
        this.manifest = manifest;
        this.starts = new long[manifest.shards().size()];
    }

    /** Opens every shard of {@code dir} after checking each one's SHA-256 and header against the manifest. */
    public static TeacherLogitWindows open(Path dir, TeacherLogitsManifest manifest) throws IOException {
        manifest.verify(dir);
        TeacherLogitWindows w = new TeacherLogitWindows(dir, manifest);
        try {
            long at = 0;
            for (int i = 0; i < manifest.shards().size(); i++) {
                TeacherLogits.Shard s = manifest.shards().get(i);
                w.shards.add(new TeacherLogits.Reader(dir.resolve(s.file())));
                w.starts[i] = at;
                at += s.windows();
            }
            if (at == 0) {
                throw new ShardFormatException(dir.resolve(TeacherLogitsManifest.FILE_NAME), "lists no windows");
            }
        } catch (IOException | RuntimeException e) {
            w.close();
            throw e;
        }
        return w;
    }

    public long windows() {
        return manifest.windows();
    }

    /** {@code batch} windows for one micro-batch of one optimizer step, with the teacher's buckets. */
    public Sampled randomBatch(long seed, long step, int micro, int batch) throws IOException {
        SplittableRandom rng = new SplittableRandom(TokenWindows.mix(seed, step, micro));
        int time = manifest.window();
        int k = manifest.topK();
        int vocab = manifest.vocabSize();
        TeacherLogits.Window w = new TeacherLogits.Window(time, k);
        int[] in = new int[batch * time];
        int[] tg = new int[batch * time];
        int[] ids = new int[batch * time * k];
        float[] logits = new float[batch * time * k];
        float[] rest = new float[batch * time];
        for (int b = 0; b < batch; b++) {
            long g = rng.nextLong(manifest.windows());
            int shard = shardOf(g);
            TeacherLogits.Reader r = shards.get(shard);
            r.read(g - starts[shard], w);
            checkIds(w.tokens, vocab, shard, "token id");
            checkIds(w.ids, vocab, shard, "top-k id");
            System.arraycopy(w.tokens, 0, in, b * time, time);
            System.arraycopy(w.tokens, 1, tg, b * time, time);
            System.arraycopy(w.ids, 0, ids, b * time * k, time * k);
            System.arraycopy(w.logits, 0, logits, b * time * k, time * k);
            System.arraycopy(w.rest, 0, rest, b * time, time);
        }
        return new Sampled(new Gpt.Batch(in, tg, batch, time), new DistillationLoss.TopK(k, ids, logits, rest));
    }

    private void checkIds(int[] ids, int vocab, int shard, String what) {
        for (int id : ids) {
            if (id < 0 || id >= vocab) {
                throw new ShardFormatException(dir.resolve(manifest.shards().get(shard).file()), "holds " + what + " "
                        + id + ", outside the " + vocab + "-token vocabulary");
            }
        }
    }

    private int shardOf(long window) {
        int lo = 0;
        int hi = starts.length - 1;
        while (lo < hi) {
            int mid = (lo + hi + 1) >>> 1;
            if (starts[mid] <= window) {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        return lo;
    }

    @Override
    public void close() throws IOException {
        for (TeacherLogits.Reader r : shards) {
            r.close();
        }
    }
}
