package org.distillery.cli;

import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Option;

/**
 * {@code --set KEY=VALUE}: a spec field overridden from the command line by its dotted path, as Hydra's and Spark's
 * {@code --conf} users expect; checked like the file (an unknown key gets its "did you mean").
 */
final class SpecOverrides {
    @Option(names = "--set", paramLabel = "KEY=VALUE", description = "override a spec field by its dotted path, checked"
            + " like the file: --set training.steps=20 --set optimizer.lr=3e-4 (repeatable)")
    List<String> values = new ArrayList<>();

    List<String> list() {
        return List.copyOf(values);
    }
}
