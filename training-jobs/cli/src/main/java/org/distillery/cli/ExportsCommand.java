package org.distillery.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import org.distillery.core.DistilleryException;
import org.distillery.core.io.AtomicFile;
import org.distillery.core.io.ByteSize;
import org.distillery.core.progress.ProgressEvent;
import org.distillery.core.progress.ProgressListener;
import org.distillery.export.ExportDtype;
import org.distillery.export.ExportFolder;
import org.distillery.export.ExportFormat;
import org.distillery.export.ExportProvenance;
import org.distillery.export.GgufExporter;
import org.distillery.export.HfImporter;
import org.distillery.export.SafetensorsFile;
import org.distillery.export.TensorType;
import org.distillery.model.Checkpoint;
import org.distillery.model.Gpt;
import org.distillery.model.GptConfig;
import org.distillery.model.GptParameters;
import org.nd4j.linalg.api.ndarray.INDArray;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

@Command(name = "exports", description = "List exports with their provenance, and check them with the readers serving"
        + " teams use (transformers, onnxruntime, gguf-py).",
        subcommands = {ExportsCommand.ListCmd.class, ExportsCommand.Check.class})
final class ExportsCommand {
    static final String LIST_FORMAT = "distillery.exports/1";
    static final String CHECK_FORMAT = "distillery.export-check/1";
    private static final ObjectMapper JSON = new ObjectMapper();

    @ParentCommand
    Distillery top;

    @Command(name = "list", description = "The exports under a folder (default: <work-dir>/export): formats, sizes,"
            + " provenance read from inside each file.")
    static final class ListCmd implements Callable<Integer> {
        @ParentCommand
        ExportsCommand parent;

        @Parameters(arity = "0..1", paramLabel = "DIR", description = "the folder holding the exports (default:"
                + " <work-dir>/export)")
        Path dir;

        @Option(names = "--json", description = "one JSON document (" + LIST_FORMAT + ")")
        boolean json;

        @Override
        public Integer call() throws IOException {
            Path root = (dir != null ? dir : parent.top.workDir().resolve("export")).toAbsolutePath();
            if (!Files.isDirectory(root)) {
                if (dir != null) {
                    throw new DistilleryException(dir + ": no such folder");
                }
                System.err.println("note: no exports: " + root + " does not exist; " + parent.top.workDirNote());
            }
            List<ExportFolder> exports = ExportFolder.under(root);
            if (exports.isEmpty() && Files.isDirectory(root)) {
                System.err.println("note: no exports in " + root + (dir == null ? "; " + parent.top.workDirNote() : ""));
            }
            if (json) {
                ObjectNode out = JSON.createObjectNode().put("format", LIST_FORMAT).put("root", root.toString());
                ArrayNode list = out.putArray("exports");
                for (ExportFolder e : exports) {
                    ObjectNode n = list.addObject().put("name", e.dir().getFileName().toString())
                            .put("path", e.dir().toString());
                    ArrayNode parts = n.putArray("formats");
                    for (ExportFolder.Part p : e.parts()) {
                        ObjectNode pn = parts.addObject().put("format", p.name()).put("path", p.dir().toString())
                                .put("file", p.file().toString()).put("bytes", p.bytes());
                        pn.put("problem", p.problem());
                        ObjectNode prov = pn.putObject("provenance");
                        p.provenance().forEach(prov::put);
                        JsonNode score = scorecardRow(p);
                        if (score != null) {
                            pn.set("scorecard", score);
                        }
                    }
                }
                System.out.println(JSON.writerWithDefaultPrettyPrinter().writeValueAsString(out));
            } else if (!exports.isEmpty()) {
                String row = "%-20s  %-6s  %-5s  %10s  %-32s  %6s  %s%n";
                System.out.printf(row, "EXPORT", "FORMAT", "DTYPE", "SIZE", "RUN", "STEP", "PATH");
                for (ExportFolder e : exports) {
                    for (ExportFolder.Part p : e.parts()) {
                        System.out.printf(row, e.dir().getFileName(), p.name(),
                                p.provenance().getOrDefault(ExportProvenance.PREFIX + "dtype", "-"), ByteSize.human(p.bytes()),
                                p.problem() != null ? "damaged: see exports check"
                                        : p.provenance().getOrDefault(ExportProvenance.PREFIX + "run_id", "-"),
                                p.provenance().getOrDefault(ExportProvenance.PREFIX + "step", "-"), p.file());
                    }
                }
            }
            return 0;
        }
    }

    /**
     * The part's own scorecard line ({@code scorecard.json} beside it, written by {@code distillery scorecard}) with
     * the conditions it was measured under, or null when it has none or it cannot be read.
     */
    static JsonNode scorecardRow(ExportFolder.Part p) {
        Path file = p.dir().resolve(Scorecard.JSON_FILE);
        if (!Files.isRegularFile(file)) {
            return null;
        }
        try {
            JsonNode card = JSON.readTree(file.toFile()).path("scorecard");
            JsonNode row = card.path("rows").path(0);
            if (!row.isObject()) {
                return null;
            }
            ObjectNode out = ((ObjectNode) row.deepCopy());
            for (String k : List.of("prep", "threads", "window", "windows", "reference")) {
                out.set(k, card.path(k));
            }
            return out;
        } catch (IOException e) {
            return null; // a damaged scorecard is only a missing one: the export itself is unaffected
        }
    }

    @Command(name = "check", description = "Load each format of an export with its serving reader and compare its"
            + " logits with Distillery's own on the same tokens (the checkpoint the export names, else the"
            + " Hugging Face folder read back). Exit code 1 when a check fails.")
    static final class Check implements Callable<Integer> {
        @ParentCommand
        ExportsCommand parent;

        @Parameters(paramLabel = "EXPORT", description = "an export folder")
        Path dir;

        @Option(names = "--report", description = "also write the results as JSON (" + CHECK_FORMAT + ") to this file")
        Path report;

        @Option(names = "--python", description = "Python with transformers, onnxruntime and gguf (default:"
                + " $DISTILLERY_PYTHON, .venv/bin/python, python3; bin/setup-python installs them)")
        String python;

        @Override
        public Integer call() throws Exception {
            ExportFolder export = ExportFolder.at(dir.toAbsolutePath());
            if (export == null) {
                throw new DistilleryException(dir + ": no export here (expected config.json + model.safetensors,"
                        + " model.onnx or model.gguf, or hf/, onnx/, gguf/ subfolders)");
            }
            boolean allDamaged = export.parts().stream().allMatch(p -> p.problem() != null);
            Reference ref = allDamaged ? null : Reference.of(export);
            int[] ids = ref == null ? new int[0] : probeIds(ref.gpt.config());
            ObjectNode out = JSON.createObjectNode().put("format", CHECK_FORMAT).put("export", dir.toAbsolutePath()
                    .toString()).put("reference", ref == null ? "none: every format is damaged" : ref.what);
            ArrayNode ia = out.putArray("ids");
            for (int id : ids) {
                ia.add(id);
            }
            ArrayNode results = out.putArray("checks");
            boolean ok = true;
            try (ProgressListener progress = parent.top.progress()) {
                int i = 0;
                for (ExportFolder.Part p : export.parts()) {
                    progress.on(ProgressEvent.stage("exports-check", p.name(), ++i, export.parts().size()));
                    ObjectNode r = check(p, ids, ref);
                    results.add(r);
                    ok &= r.get("ok").asBoolean();
                }
                out.put("ok", ok);
                if (report != null) {
                    AtomicFile.write(report, JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(out));
                }
                progress.on(ProgressEvent.done("exports-check", ok ? "all readers agree" : "a check failed"));
            }
            for (JsonNode r : results) {
                System.out.printf("%-5s %-4s %s%n", r.get("format").asText(), r.get("ok").asBoolean() ? "ok" : "FAIL",
                        r.get("detail").asText());
            }
            return ok ? Distillery.ExitCode.OK : Distillery.ExitCode.CHECK_FAILED;
        }

        private ObjectNode check(ExportFolder.Part p, int[] ids, Reference ref)
                throws IOException, InterruptedException {
            String idList = String.join(",", java.util.Arrays.stream(ids).mapToObj(String::valueOf).toList());
            List<String> args = List.of(p.name(), (p.format() == ExportFormat.HF ? p.dir() : p.file()).toString(), idList);
            ObjectNode r = JSON.createObjectNode().put("format", p.name()).put("path", p.dir().toString());
            if (p.problem() != null) {
                // Distillery's own reader already found the damage and names it; a serving reader would only
                // fail with a traceback that blames the installation.
                return r.put("ok", false).put("problem", p.problem()).put("detail", "damaged: " + p.problem());
            }
            JsonNode py;
            try {
                py = ServingReader.run("export_consumers.py", python, args, p.name(), p.file());
            } catch (DistilleryException e) {
                return r.put("ok", false).put("detail", e.getMessage());
            }
            r.put("reader", py.path("reader").asText());
            String runId = p.provenance().get(ExportProvenance.PREFIX + "run_id");
            String readRun = py.path("metadata").path(ExportProvenance.PREFIX + "run_id").asText(null);
            boolean sameRun = p.problem() == null && (runId == null || runId.equals(readRun));
            r.put("provenance_read", sameRun);
            if (p.format() == ExportFormat.GGUF && !py.has("logits")) { // gguf-py alone: llama.cpp is not installed
                boolean ok = sameRun && py.path("all_finite").asBoolean() && ref.gpt.config().arch().equals(
                        py.path("architecture").asText()) && py.path("tensors").asInt() > 0;
                return r.put("ok", ok).put("detail", py.path("tensors").asInt() + " tensors read, all finite: "
                        + py.path("all_finite").asBoolean() + ", architecture " + py.path("architecture").asText()
                        + (sameRun ? "" : ", provenance run_id not read back"));
            }
            String dtype = p.provenance().getOrDefault(ExportProvenance.PREFIX + "dtype", "");
            boolean quantized = p.format() == ExportFormat.GGUF && dtype.startsWith("q"); // ggml's blocks: q8_0, q4_0, q6_k
            // a quantized file is compared with Distillery's model on the weights as the file holds them
            INDArray mine = (quantized ? new Gpt(GgufExporter.asStored(ref.gpt.parameters(), ExportDtype.parse(dtype)))
                    : ref.gpt).logits(ids, 1, ids.length);
            JsonNode rows = py.get("logits");
            double maxDiff = 0;
            boolean sameArgmax = true;
            for (int t = 0; t < ids.length; t++) {
                JsonNode row = rows.get(t);
                int best = 0;
                int mineBest = 0;
                for (int v = 0; v < row.size(); v++) {
                    maxDiff = Math.max(maxDiff, Math.abs(mine.getDouble(t, v) - row.get(v).asDouble()));
                    best = row.get(v).asDouble() > row.get(best).asDouble() ? v : best;
                    mineBest = mine.getDouble(t, v) > mine.getDouble(t, mineBest) ? v : mineBest;
                }
                sameArgmax &= best == mineBest;
            }
            double largest = mine.amaxNumber().doubleValue();
            double tol = quantized ? QUANTIZED_SHARE * largest : dtype.equals("int8") ? INT8_SHARE * largest
                    : tolerance(p, py);
            boolean ok = sameRun && maxDiff <= tol;
            r.put("max_abs_logit_diff", maxDiff).put("tolerance", tol).put("same_argmax", sameArgmax);
            if (py.has("greedy")) {
                r.set("greedy", py.get("greedy"));
            }
            return r.put("ok", ok).put("detail", String.format("max |logit diff| %.2e (tolerance %.1e) over %d positions,"
                    + " same argmax: %s%s", maxDiff, tol, ids.length, sameArgmax,
                    sameRun ? "" : ", provenance run_id not read back"));
        }

        /** Float32 agrees to rounding; 16-bit weights move logits by their own rounding. */
        /**
         * llama.cpp rounds activations to 8 bits (q8_0, or q8_K for a k-quant) before multiplying them by quantized
         * weights: its logits differ from those of the dequantized weights by that rounding, which grows with the
         * logits, so it is compared as a share of their largest magnitude (measured up to 1.3% on small models).
         */
        static final double QUANTIZED_SHARE = 0.02;
        /**
         * An int8 ONNX export rounds the activations to uint8 before each product: its logits are compared with the
         * float model's as a share of their largest magnitude (measured up to about 4% on small models).
         */
        static final double INT8_SHARE = 0.08;

        private static double tolerance(ExportFolder.Part p, JsonNode py) {
            if (p.format() == ExportFormat.GGUF) { // llama.cpp's own float32 (or float16) kernels
                return py.path("tensor_types").toString().contains("F16") ? 5e-2 : 1e-3;
            }
            if (p.format() != ExportFormat.HF) {
                return 1e-3;
            }
            TensorType t = SafetensorsFile.open(p.file()).entries().values().iterator().next().type();
            return switch (t) {
                case F16 -> 5e-2;
                case BF16 -> 0.25;
                default -> 1e-3;
            };
        }
    }

    /** Distillery's side of the comparison. */
    private record Reference(String what, Gpt gpt) {
        static Reference of(ExportFolder export) {
            for (ExportFolder.Part p : export.parts()) {
                String ck = p.provenance().get(ExportProvenance.PREFIX + "checkpoint");
                if (ck != null && Files.isRegularFile(Path.of(ck))) {
                    Checkpoint c = Checkpoint.read(Path.of(ck));
                    return new Reference("checkpoint " + ck, gpt(c));
                }
            }
            for (ExportFolder.Part p : export.parts()) {
                if (p.format() == ExportFormat.HF) {
                    return new Reference("the hf folder read back by Distillery (the checkpoint "
                            + p.provenance().getOrDefault(ExportProvenance.PREFIX + "checkpoint", "-")
                            + " is not there)", gpt(HfImporter.read(p.dir(), Distillery.version())));
                }
            }
            throw new DistilleryException(export.dir() + ": nothing to compare with: the checkpoint it names is gone"
                    + " and it has no hf folder");
        }

        private static Gpt gpt(Checkpoint c) {
            return new Gpt(GptParameters.wrap(c.header().model(), c.section(Checkpoint.PARAMS)));
        }
    }

    /** A fixed, spread-out token sequence inside the vocabulary and the context. */
    static int[] probeIds(GptConfig c) {
        int[] ids = new int[Math.min(8, c.blockSize())];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = (int) ((17L * i + 3) % c.vocabSize());
        }
        return ids;
    }
}
