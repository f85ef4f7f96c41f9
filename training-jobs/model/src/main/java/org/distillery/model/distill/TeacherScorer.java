package org.distillery.model.distill;

import java.io.IOException;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.distillery.core.io.Sha256;
import org.distillery.core.shard.ShardFormatException;
import org.distillery.core.shard.ShardManifest;
import org.distillery.core.shard.TeacherLogits;
import org.distillery.core.shard.TeacherLogitsManifest;
import org.distillery.core.shard.TokenShardReader;
import org.distillery.core.shard.TokenShardWriter;
import org.distillery.model.Gpt;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Scores windows of token shards with a teacher and appends them, as {@link TopKLogits} buckets, to a
 * teacher-logit shard. Window {@code w} of a shard is tokens {@code [w·T, w·T + T]}: neighbours share
 * their edge token, so every position but the shard's last is scored once. Windows are run through
 * the teacher {@code batch} at a time, across calls to {@link #score}; {@link #flush} runs the rest.
 * The {@code teacher-logits} Spark job runs one scorer per task; nothing here knows about Spark.
 */
public final class TeacherScorer {
    private final Gpt teacher;
    private final int time;
    private final int vocab;
    private final TopKLogits topK;
    private final TeacherLogits.Window[] pending;
    private final int[] inputs;
    private final INDArray logits;
    private int filled;

    /**
     * How windows are scored: {@code window} tokens each, the {@code topK} logits kept per position at
     * {@code temperature}, {@code batch} windows through the teacher at a time.
     */
    public record Settings(int window, int topK, double temperature, int batch) {
    }

    public TeacherScorer(Gpt teacher, Settings settings) {
        int window = settings.window();
        int k = settings.topK();
        int batch = settings.batch();
        double temperature = settings.temperature();
        this.teacher = teacher;
        this.time = window;
        this.vocab = teacher.config().vocabSize();
        this.topK = new TopKLogits(vocab, k, temperature);
        this.pending = new TeacherLogits.Window[batch];
        for (int i = 0; i < batch; i++) {
            pending[i] = new TeacherLogits.Window(window, k);
        }
        this.inputs = new int[batch * window];
        this.logits = Nd4j.createUninitializedDetached(DataType.FLOAT, (long) batch * window, vocab);
    }

    /**
     * A teacher-logits output without Spark: the first {@code maxWindows} windows of the train split of
     * {@code prep}, scored in this process into one shard of {@code out}, and its manifest. For
     * benchmarks and tests; {@code distillery teacher-logits} spreads the same scoring over tasks.
     */
    public static TeacherLogitsManifest scoreInProcess(Gpt teacher, Path prep, Path out, Settings settings,
                                                       long maxWindows, String version) throws IOException {
        ShardManifest manifest = ShardManifest.read(prep);
        int vocab = teacher.config().vocabSize();
        int window = settings.window();
        int k = settings.topK();
        double temperature = settings.temperature();
        TeacherScorer scorer = new TeacherScorer(teacher, settings);
        TeacherLogits.Shard shard;
        try (TeacherLogits.Writer w = new TeacherLogits.Writer(out.resolve("train-00000.tlogits"), window, k, vocab,
                (float) temperature)) {
            long left = maxWindows;
            for (TokenShardWriter.Summary s : manifest.splits().get("train").shards()) {
                if (left == 0) {
                    break;
                }
                try (TokenShardReader r = TokenShardReader.open(prep.resolve(s.file()), s.sha256())) {
                    long n = Math.min(left, windowsIn(r.tokens(), window));
                    scorer.score(r, 0, n, w);
                    left -= n;
                }
            }
            scorer.flush(w);
            shard = w.finish();
        }
        TeacherLogitsManifest m = new TeacherLogitsManifest(TeacherLogitsManifest.FORMAT, TeacherLogitsManifest.VERSION,
                version, Instant.now().toString(), Sha256.of(prep.resolve(ShardManifest.FILE_NAME)),
                manifest.tokenizer().sha256(), "train", Map.of("params_sha256", teacher.parameters().sha256()), k,
                (float) temperature, window, vocab, shard.windows(), List.of(shard));
        m.write(out);
        return m;
    }

    /** How many whole windows a shard of {@code tokens} tokens holds. */
    public static long windowsIn(long tokens, int window) {
        return Math.max(0, (tokens - 1) / window);
    }

    /** Scores windows {@code [first, first + count)} of {@code tokens} into {@code out}. */
    public void score(TokenShardReader tokens, long first, long count, TeacherLogits.Writer out) throws IOException {
        for (long w = first; w < first + count; w++) {
            int[] t = pending[filled].tokens;
            tokens.read(w * time, t);
            for (int id : t) {
                if (id < 0 || id >= vocab) {
                    throw new ShardFormatException(tokens.file(), "holds token id " + id + ", outside the teacher's "
                            + vocab + "-token vocabulary");
                }
            }
            if (++filled == pending.length) {
                run(filled, inputs, logits, out);
            }
        }
    }

    /** Scores the windows still waiting for a full batch. */
    public void flush(TeacherLogits.Writer out) throws IOException {
        if (filled > 0) {
            INDArray tail = Nd4j.createUninitializedDetached(DataType.FLOAT, (long) filled * time, vocab);
            run(filled, Arrays.copyOf(inputs, filled * time), tail, out);
        }
    }

    private void run(int n, int[] in, INDArray out, TeacherLogits.Writer shard) throws IOException {
        for (int b = 0; b < n; b++) {
            System.arraycopy(pending[b].tokens, 0, in, b * time, time);
        }
        teacher.logits(in, n, time, out);
        FloatBuffer rows = out.data().asNioFloat();
        for (int b = 0; b < n; b++) {
            TeacherLogits.Window w = pending[b];
            for (int t = 0; t < time; t++) {
                topK.select(rows, (long) b * time + t, w.ids, w.logits, w.rest, t);
            }
            shard.add(w);
        }
        java.lang.ref.Reference.reachabilityFence(out);
        filled = 0;
    }
}
