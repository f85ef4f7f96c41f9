package org.distillery.workbench.core.exports;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import org.distillery.core.progress.ProgressEvent;
import org.distillery.workbench.core.datasets.PrepOutput;
import org.distillery.workbench.core.engine.EngineQuery;

/**
 * {@code distillery scorecard} on exports chosen in the workbench: the prep they are measured on is the one under
 * the work folder whose tokenizer they were trained with (the provenance's {@code tokenizer_sha256} against each
 * prep manifest's), and the engine's progress events (a stage per export) reach a listener as they come.
 */
public final class ScorecardRun {
    private ScorecardRun() {
    }

    /** How far the measuring is. */
    public interface Listener {
        /** The engine started measuring export {@code index} of {@code total} (1-based), at {@code folder}. */
        void measuring(int index, int total, String folder);
    }

    /**
     * The prep under {@code prepDir} whose tokenizer the exports share. Errors name the exports and the SHA-256s: two
     * tokenizers among the exports, an export without one in its provenance, or no prep with it.
     */
    public static Path prepFor(Path prepDir, List<Export.Part> parts) {
        Set<String> shas = new LinkedHashSet<>();
        for (Export.Part p : parts) {
            String sha = p.get("tokenizer_sha256");
            if (sha.isEmpty()) {
                throw new IllegalArgumentException(p.path() + ": its provenance names no tokenizer_sha256, so no prep"
                        + " can be matched to it");
            }
            shas.add(sha);
        }
        if (shas.size() != 1) {
            throw new IllegalArgumentException("the chosen exports were trained with " + shas.size()
                    + " different tokenizers (" + String.join(", ", shas) + "); a scorecard compares one");
        }
        String sha = shas.iterator().next();
        for (PrepOutput prep : PrepOutput.under(prepDir)) {
            if (prep.manifest() != null && sha.equals(prep.manifest().tokenizer().sha256())) {
                return prep.dir();
            }
        }
        throw new IllegalArgumentException("no prep under " + prepDir + " has the exports' tokenizer (SHA-256 " + sha
                + "); run the prep they were trained on first");
    }

    /**
     * Measures {@code parts} on {@code prep} ({@code options}: more of the command's options, such as
     * {@code --windows}); the engine's table on success, its message otherwise.
     */
    public static EngineQuery.Answer run(EngineQuery engine, List<Export.Part> parts, Path prep, Listener listener,
                                         String... options) {
        List<String> args = new ArrayList<>(List.of("--progress=json", "scorecard"));
        parts.forEach(p -> args.add(p.path().toString()));
        args.addAll(List.of("--prep", prep.toString()));
        args.addAll(List.of(options));
        long[] line = {0};
        return engine.run(l -> ProgressEvent.read(l, ++line[0]).ifPresent(e -> {
            if (e instanceof ProgressEvent.Stage s) {
                listener.measuring(s.index(), s.stages(), s.stage());
            }
        }), args.toArray(String[]::new));
    }
}
