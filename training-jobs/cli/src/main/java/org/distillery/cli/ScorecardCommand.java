package org.distillery.cli;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import org.distillery.core.DistilleryException;
import org.distillery.core.progress.ProgressEvent;
import org.distillery.core.progress.ProgressListener;
import org.distillery.export.ExportFolder;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

@Command(name = "scorecard", description = "Measure exports as serving teams run them: held-out loss on a prep's"
        + " validation split computed by the format's own runtime (llama.cpp for GGUF, ONNX Runtime for ONNX,"
        + " transformers for the Hugging Face folder), prompt and generation tokens/s at batch 1 and a larger batch,"
        + " CPU-seconds per million generated tokens, peak memory, size, and quality retained against the teacher."
        + " Prints a table; --report writes it with JSON and a PNG, and each export gets its row in scorecard.json.")
final class ScorecardCommand implements Callable<Integer> {
    @ParentCommand
    Distillery top;

    @Parameters(arity = "1..*", paramLabel = "EXPORT", description = "export folders (every format in each is"
            + " measured) or one format's folder")
    List<Path> exports;

    @Option(names = "--prep", required = true, paramLabel = "PREP", description = "the prep output whose validation"
            + " split is the held-out text; its tokenizer must be the exports'")
    Path prep;

    @Option(names = "--teacher", paramLabel = "EXPORT", description = "the export quality is retained against (a"
            + " format's folder or an export with one format; default: the fp32 export with the most parameters)")
    Path teacher;

    @Option(names = "--report", paramLabel = "DIR", description = "write scorecard.json, scorecard.md and"
            + " scorecard.png here")
    Path report;

    @Option(names = "--threads", description = "threads every runtime uses (default: this machine's processors)")
    Integer threads;

    @Option(names = "--windows", defaultValue = "64", description = "validation windows of the smallest export"
            + " context, spread over the split (default: ${DEFAULT-VALUE})")
    int windows;

    @Option(names = "--batch", defaultValue = "4", description = "the larger batch the speeds are also measured at"
            + " (default: ${DEFAULT-VALUE})")
    int batch;

    @Option(names = "--rounds", defaultValue = "3", description = "timed rounds after one untimed (default:"
            + " ${DEFAULT-VALUE})")
    int rounds;

    @Option(names = "--python", description = "Python with transformers, onnxruntime and llama-cpp-python (default:"
            + " $DISTILLERY_PYTHON, .venv/bin/python, python3; bin/setup-python installs them)")
    String python;

    @Override
    public Integer call() throws Exception {
        if (windows < 1 || batch < 2 || rounds < 1 || (threads != null && threads < 1)) {
            throw new DistilleryException("--windows and --rounds must be at least 1, --batch at least 2 and"
                    + " --threads positive");
        }
        List<ExportFolder.Part> parts = new ArrayList<>();
        for (Path e : exports) {
            parts.addAll(folder(e).parts());
        }
        ExportFolder.Part reference = null;
        if (teacher != null) {
            ExportFolder t = folder(teacher);
            if (t.parts().size() != 1) {
                throw new DistilleryException(teacher + ": holds " + t.parts().size() + " formats; --teacher names one"
                        + " (its hf, onnx or gguf folder)");
            }
            Path want = t.parts().get(0).file().toAbsolutePath().normalize();
            reference = parts.stream().filter(p -> p.file().toAbsolutePath().normalize().equals(want)).findFirst()
                    .orElse(null);
            if (reference == null) {
                parts.add(0, t.parts().get(0));
                reference = parts.get(0);
            }
        }
        int n = threads != null ? threads : Runtime.getRuntime().availableProcessors();
        Scorecard card;
        try (ProgressListener progress = top.progress()) {
            card = Scorecard.measure(parts, prep, reference, new Scorecard.Options(n, windows, batch, rounds, python),
                    progress);
            if (report != null) {
                card.write(report);
            }
            card.writeBesideExports();
            progress.on(ProgressEvent.done("scorecard", parts.size() + " exports measured"
                    + (report != null ? " into " + report : "")));
        }
        System.out.print(card.table());
        return Distillery.ExitCode.OK;
    }

    private static ExportFolder folder(Path dir) {
        ExportFolder f = ExportFolder.at(dir.toAbsolutePath());
        if (f == null) {
            throw new DistilleryException(dir + ": no export here (expected config.json + model.safetensors,"
                    + " model.onnx or model.gguf, or hf/, onnx/, gguf/ subfolders)");
        }
        return f;
    }
}
