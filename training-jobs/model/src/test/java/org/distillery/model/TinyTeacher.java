package org.distillery.model;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.distillery.core.shard.ShardManifest;

/**
 * An untrained teacher for a prep output: random weights of a given shape with the output's tokenizer
 * embedded, as a checkpoint of weights only. Enough for jobs that only need a teacher's logits to be
 * some fixed function of its input (the teacher-logit job and its cluster test).
 */
public final class TinyTeacher {
    private TinyTeacher() {
    }

    public static Checkpoint random(Path prep, int layers, int heads, int embd, int block, long seed) throws IOException {
        ShardManifest m = ShardManifest.read(prep);
        GptConfig c = new GptConfig(layers, heads, embd, block, m.tokenizer().vocabSize(), 0.0);
        String json = Files.readString(prep.resolve(m.tokenizer().file()), StandardCharsets.UTF_8);
        Checkpoint.Header h = Checkpoint.Header.of("test", c,
                new Checkpoint.Tokenizer(m.tokenizer().sha256(), m.tokenizer().vocabSize(), json));
        return new Checkpoint(h, Map.of(Checkpoint.PARAMS, GptParameters.initialize(c, seed).flat()));
    }
}
