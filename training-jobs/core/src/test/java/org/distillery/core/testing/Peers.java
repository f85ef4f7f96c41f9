package org.distillery.core.testing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Runs the real consumers (Python tokenizers, Node gpt-3-encoder) as processes and reads their JSON answer. */
public final class Peers {
    private static final ObjectMapper JSON = new ObjectMapper();

    private Peers() {
    }

    /** Runs a Python peer script from the test resources with a JSON request file. */
    public static JsonNode python(String script, Object request) throws IOException, InterruptedException {
        Path req = Files.createTempFile("peer-request", ".json");
        try {
            JSON.writeValue(req.toFile(), request);
            return run(List.of(RepoFixtures.python(), resource(script).toString(), req.toString()));
        } finally {
            Files.deleteIfExists(req);
        }
    }

    /** Runs a Node peer script from the test resources with extra arguments. */
    public static JsonNode node(String script, String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of("node", resource(script).toString()));
        cmd.addAll(List.of(args));
        return run(cmd);
    }

    public static List<int[]> idLists(JsonNode arrays) {
        List<int[]> out = new ArrayList<>();
        for (JsonNode a : arrays) {
            int[] ids = new int[a.size()];
            for (int i = 0; i < ids.length; i++) {
                ids[i] = a.get(i).asInt();
            }
            out.add(ids);
        }
        return out;
    }

    private static Path resource(String name) throws IOException {
        Path p = Files.createTempFile("peer-", "-" + name);
        try (InputStream in = Peers.class.getResourceAsStream("/peers/" + name)) {
            if (in == null) {
                throw new IllegalStateException("no test resource peers/" + name);
            }
            Files.write(p, in.readAllBytes());
        }
        p.toFile().deleteOnExit();
        return p;
    }

    private static JsonNode run(List<String> cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        byte[] out = p.getInputStream().readAllBytes();
        if (!p.waitFor(5, TimeUnit.MINUTES) || p.exitValue() != 0) {
            throw new IllegalStateException("peer failed: " + cmd + " (exit " + p.exitValue() + ")");
        }
        return JSON.readTree(new String(out, StandardCharsets.UTF_8));
    }
}
