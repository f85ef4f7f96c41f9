package org.distillery.model.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import java.util.Arrays;
import org.distillery.core.shard.ShardManifest;
import org.distillery.core.shard.TokenShardReader;
import org.distillery.core.shard.TokenShardWriter;
import org.distillery.model.Gpt;
import org.distillery.model.GptConfig;
import org.distillery.model.GptParameters;
import org.distillery.model.TinyPrep;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class HeldOutLossTest {
    @TempDir
    Path tmp;

    /** Consecutive windows walk every shard in steps of T; the loss is their mean, batched or not. */
    @Test
    void coversTheSplitWindowByWindow() throws Exception {
        Path data = TinyPrep.write(tmp, 60, false);
        ShardManifest m = ShardManifest.read(data);
        int time = 16;
        try (TokenWindows val = TokenWindows.open(data, m, "val")) {
            int i = 0;
            for (TokenShardWriter.Summary s : m.splits().get("val").shards()) {
                try (TokenShardReader r = TokenShardReader.open(data.resolve(s.file()))) {
                    for (long w = 0; w < (r.tokens() - 1) / time; w++, i++) {
                        int[] want = new int[time + 1];
                        r.read(w * time, want);
                        Gpt.Batch b = val.consecutiveBatch(i, 1, time);
                        assertArrayEquals(Arrays.copyOf(want, time), b.inputs(), "window " + i);
                        assertArrayEquals(Arrays.copyOfRange(want, 1, time + 1), b.targets(), "window " + i);
                    }
                }
            }
            assertEquals(i, val.consecutiveWindows(time));

            Gpt gpt = new Gpt(GptParameters.initialize(new GptConfig(1, 2, 16, time, 257, 0.0), 4));
            double sum = 0;
            for (int w = 0; w < i; w++) {
                sum += gpt.loss(val.consecutiveBatch(w, 1, time));
            }
            HeldOutLoss h = HeldOutLoss.of(gpt, val, 3);
            assertEquals(sum / i, h.loss(), 1e-5);
            assertEquals((long) i * time, h.tokens());
        }
    }
}
