package org.distillery.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.distillery.core.DistilleryException;
import org.distillery.core.process.ChildProcess;

/**
 * A Python script of this package run on an export in the runtime serving teams use (transformers, ONNX Runtime,
 * llama.cpp): its one-line JSON answer. The script's stderr is kept apart (transformers' progress bars and
 * llama.cpp's warnings do not reach ours); a failure is one line: the script's own last words, and the
 * installation blamed only when a module is missing.
 */
final class ServingReader {
    private static final ObjectMapper JSON = new ObjectMapper();

    private ServingReader() {
    }

    /**
     * How long one run may take: a bound that only catches a hang (a check reads one export, a scorecard measures
     * one), however slow the machine.
     */
    static final Duration TIMEOUT = Duration.ofHours(1);

    /** Runs resource {@code script} with {@code args}; {@code what} names the export part in errors. */
    static JsonNode run(String script, String python, List<String> args, String what, Path file)
            throws IOException, InterruptedException {
        return run(script, python, args, what, file, TIMEOUT);
    }

    /** As {@link #run(String, String, List, String, Path)}, stopped (with what it started) after {@code timeout}. */
    static JsonNode run(String script, String python, List<String> args, String what, Path file, Duration timeout)
            throws IOException, InterruptedException {
        Path copy = Files.createTempFile(script.replace(".py", ""), ".py");
        Path errors = Files.createTempFile("serving-reader", ".stderr");
        try (InputStream in = ServingReader.class.getResourceAsStream(script)) {
            Files.write(copy, in.readAllBytes());
            List<String> cmd = new ArrayList<>(List.of(BenchCommand.pythonCommand(python), copy.toString()));
            cmd.addAll(args);
            ProcessBuilder pb = UserEnvironment.of(new ProcessBuilder(cmd)); // as serving teams run these runtimes
            pb.environment().put("TRANSFORMERS_VERBOSITY", "error");
            pb.environment().put("HF_HUB_DISABLE_PROGRESS_BARS", "1");
            pb.environment().put("TQDM_DISABLE", "1");
            pb.environment().put("PYTHONWARNINGS", "ignore");
            pb.environment().put("ORT_LOGGING_LEVEL", "3");
            pb.redirectError(errors.toFile());
            ChildProcess proc;
            try {
                proc = ChildProcess.start(pb, "the " + what + " runtime (" + cmd.get(0) + " " + script + ")");
            } catch (IOException e) {
                throw new DistilleryException("cannot run " + cmd.get(0) + " (" + e.getMessage() + "): give"
                        + " --python, or run bin/setup-python");
            }
            ChildProcess.Result r = proc.await(timeout);
            if (r.exitCode() == 0) {
                return JSON.readTree(r.stdout().lines().reduce((a, b) -> b).orElse("{}"));
            }
            String last = Files.readAllLines(errors).stream().filter(l -> !l.isBlank()).reduce((a, b) -> b)
                    .orElse("exit " + r.exitCode()).strip();
            if (last.startsWith("ModuleNotFoundError") || last.startsWith("ImportError")) {
                throw new DistilleryException("the " + what + " runtime cannot start with " + cmd.get(0)
                        + " (" + last + "): run bin/setup-python, or give --python");
            }
            throw new DistilleryException("the " + what + " runtime failed on " + file + ": " + last);
        } finally {
            Files.deleteIfExists(copy);
            Files.deleteIfExists(errors);
        }
    }
}
