package org.distillery.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import org.distillery.core.DistilleryException;
import org.distillery.core.io.AtomicDirectory;
import org.distillery.core.io.Location;
import org.distillery.core.progress.ProgressEvent;
import org.distillery.core.progress.ProgressListener;
import org.distillery.core.tracking.RunStatus;
import org.distillery.export.ExportFormat;
import org.distillery.export.ExportProvenance;
import org.distillery.export.ExportDtype;
import org.distillery.model.Checkpoint;
import org.distillery.core.runs.LocalRunStore;
import org.distillery.tracking.TrackedRun;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

@Command(name = "export", description = "Write a checkpoint in the formats serving teams load: hf (a Hugging Face"
        + " safetensors folder), onnx, gguf.")
final class ExportCommand implements Callable<Integer> {
    static final String JOB = "export";

    @ParentCommand
    Distillery top;

    @Parameters(paramLabel = "CHECKPOINT", description = "a .ckpt file (a train job's model.ckpt, or an import), or a"
            + " train or distill output folder: a path or a Hadoop file system URI")
    String checkpointArg;

    @Option(names = "--format", required = true, split = ",", description = "hf, onnx or gguf; several (hf,onnx,gguf)"
            + " write one subfolder each under --out")
    List<String> formats;

    @Option(names = "--out", required = true, description = "the export folder: a path, or a Hadoop file system URI"
            + " such as hdfs://namenode:8020/export/run1 (published there in one rename)")
    String outArg;

    @Option(names = "--dtype", defaultValue = "fp32", description = "fp32, fp16 or bf16: the weights' type; a format"
            + " that lacks it is written in the nearest it has, and told (onnx: fp32; gguf: fp16 for bf16); q8_0,"
            + " q4_0 or q6_k: ggml's block quantizations (q6_k a k-quant), gguf only; int8: linear layers multiplied in int8, onnx only")
    String dtype;

    @Option(names = "--log-to-run", negatable = true, defaultValue = "true", fallbackValue = "true",
            description = "add the export to the artifacts of the checkpoint's run (export/<folder name>/<format>/)")
    boolean logToRun;

    @Option(names = "--overwrite", description = "replace an existing export folder")
    boolean overwrite;

    @Override
    public Integer call() throws IOException {
        Set<ExportFormat> chosen = new LinkedHashSet<>();
        for (String f : formats) {
            chosen.add(ExportFormat.parse(f));
        }
        ExportDtype type;
        try {
            type = ExportDtype.parse(dtype);
        } catch (IllegalArgumentException e) {
            throw new DistilleryException("--dtype: " + e.getMessage());
        }
        Map<ExportFormat, ExportDtype> types = new LinkedHashMap<>();
        for (ExportFormat f : chosen) {
            types.put(f, f.nearest(type));
            if (types.get(f) != type) {
                System.err.println("note: " + f.name().toLowerCase(Locale.ROOT) + " is written in "
                        + types.get(f).optionName() + ", the nearest it holds to " + type.optionName());
            }
        }
        Path cwd = Path.of("").toAbsolutePath();
        Location ckAt = Location.parse(checkpointArg, cwd);
        Location outAt = Location.parse(outArg, cwd);
        Path fetched = null;
        if (ckAt.isRemote()) { // read locally: the checkpoint's checksum is checked on the copy
            fetched = Files.createTempFile("distillery-export-", ".ckpt");
            ckAt.files().download(ckAt.remote(), fetched);
        }
        Path checkpoint = fetched != null ? fetched : ModelFiles.checkpoint(ckAt.local());
        Map<ExportFormat, Path> written = new LinkedHashMap<>();
        try {
            Checkpoint ck = Checkpoint.read(checkpoint);
            ExportProvenance provenance = ExportProvenance.of(ck.header(), ckAt.toString(), Distillery.version());
            try (ProgressListener progress = top.progress()) {
                if (outAt.isRemote()) {
                    // Every format is written locally, then the whole folder goes up and is renamed into place.
                    AtomicDirectory.write(outAt, overwrite, scratch -> {
                        writeFormats(scratch, types, ck, provenance, progress, written);
                        logToRun(ck.header().runId(), outAt.name(), written);
                    });
                } else {
                    writeFormats(outAt.local(), types, ck, provenance, progress, written);
                    logToRun(ck.header().runId(), outAt.name(), written);
                }
                progress.on(ProgressEvent.done(JOB, outAt.toString()));
            }
        } finally {
            if (fetched != null) {
                Files.deleteIfExists(fetched);
            }
        }
        for (ExportFormat f : written.keySet()) {
            System.out.println("export         " + (chosen.size() == 1 ? outAt
                    : outAt.resolve(f.name().toLowerCase(Locale.ROOT))) + " (" + types.get(f).optionName() + ")");
        }
        return 0;
    }

    /** Each chosen format into {@code out} in its type (one subfolder each when there are several). */
    private void writeFormats(Path out, Map<ExportFormat, ExportDtype> types, Checkpoint ck,
                              ExportProvenance provenance, ProgressListener progress, Map<ExportFormat, Path> written)
            throws IOException {
        int i = 0;
        for (Map.Entry<ExportFormat, ExportDtype> e : types.entrySet()) {
            ExportFormat f = e.getKey();
            progress.on(ProgressEvent.stage(JOB, f.name().toLowerCase(Locale.ROOT), ++i, types.size()));
            Path dir = types.size() == 1 ? out : out.resolve(f.name().toLowerCase(Locale.ROOT));
            for (String note : f.write(ck, dir, e.getValue(), provenance, overwrite)) {
                System.err.println("note: " + f.name().toLowerCase(Locale.ROOT) + ": " + note);
            }
            written.put(f, dir);
        }
    }

    /**
     * Adds the exports to the checkpoint's run as artifacts ({@code export/<folder name>/<format>/...}: each export
     * its own entries, another one does not replace them), when asked and the run store has the run.
     */
    private void logToRun(String runId, String exportName, Map<ExportFormat, Path> exports) throws IOException {
        if (runId == null || !logToRun) {
            return;
        }
        LocalRunStore store = new LocalRunStore(top.runStore());
        LocalRunStore.Meta meta;
        try {
            meta = store.find(runId);
        } catch (DistilleryException e) {
            System.err.println("note: run " + runId + " of " + checkpointArg + " is not in the run store " + top.runStore()
                    + "; the export is not logged to it");
            return;
        }
        try (TrackedRun run = TrackedRun.open(top.runStore(), top.trackingUri(null), meta.experiment(), meta.runName(),
                meta.parentRunId(), runId, System.err)) {
            for (Map.Entry<ExportFormat, Path> e : exports.entrySet()) {
                try (Stream<Path> files = Files.list(e.getValue())) {
                    for (Path file : files.sorted().toList()) {
                        run.logArtifact(file, "export/" + exportName + "/"
                                + e.getKey().name().toLowerCase(Locale.ROOT));
                    }
                }
            }
            run.finish(RunStatus.FINISHED);
        }
    }
}
