package org.distillery.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.distillery.core.DistilleryException;

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

    /** Runs resource {@code script} with {@code args}; {@code what} names the export part in errors. */
    static JsonNode run(String script, String python, List<String> args, String what, Path file)
            throws IOException, InterruptedException {
        Path copy = Files.createTempFile(script.replace(".py", ""), ".py");
        Path errors = Files.createTempFile("serving-reader", ".stderr");
        try (InputStream in = ServingReader.class.getResourceAsStream(script)) {
            Files.write(copy, in.readAllBytes());
            List<String> cmd = new ArrayList<>(List.of(BenchCommand.pythonCommand(python), copy.toString()));
            cmd.addAll(args);
            ProcessBuilder pb = new ProcessBuilder(cmd);
            pb.environment().put("TRANSFORMERS_VERBOSITY", "error");
            pb.environment().put("HF_HUB_DISABLE_PROGRESS_BARS", "1");
            pb.environment().put("TQDM_DISABLE", "1");
            pb.environment().put("PYTHONWARNINGS", "ignore");
            pb.environment().put("ORT_LOGGING_LEVEL", "3");
            pb.redirectError(errors.toFile());
            Process proc;
            try {
                proc = pb.start();
            } catch (IOException e) {
                throw new DistilleryException("cannot run " + cmd.get(0) + " (" + e.getMessage() + "): give"
                        + " --python, or run bin/setup-python");
            }
            String out = new String(proc.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (proc.waitFor() == 0) {
                return JSON.readTree(out.lines().reduce((a, b) -> b).orElse("{}"));
            }
            String last = Files.readAllLines(errors).stream().filter(l -> !l.isBlank()).reduce((a, b) -> b)
                    .orElse("exit " + proc.exitValue()).strip();
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
