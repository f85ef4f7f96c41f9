package org.distillery.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Spec files for command-line tests: models small enough to train in a second on TinyPrep shards. */
final class TinySpecs {
    private TinySpecs() {
    }

    /**
     * {@code dir/<name>.yaml}: a train spec of one block 16 wide (block size 16, batch 2) on {@code data}, a loss
     * logged every {@code logEvery} steps and evaluated at the end; {@code more} are further lines of YAML.
     */
    static Path train(Path dir, String name, Path data, int steps, int logEvery, String... more) throws IOException {
        Path spec = dir.resolve(name + ".yaml");
        Files.writeString(spec, """
                name: %s
                data:
                  path: %s
                model: {n_layer: 1, n_head: 2, n_embd: 16, block_size: 16}
                training: {steps: %d, batch_size: 2, log_every: %d}
                eval: {every: %d, batches: 1}
                """.formatted(name, data, steps, logEvery, steps) + String.join("\n", more) + (more.length > 0 ? "\n"
                : ""));
        return spec;
    }
}
