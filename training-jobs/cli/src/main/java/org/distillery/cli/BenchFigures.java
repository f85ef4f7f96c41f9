package org.distillery.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.distillery.core.DistilleryException;
import org.distillery.core.io.AtomicFile;

/**
 * The benchmarks' figures kept per commit: one JSON line per {@code bench record} (schema {@value #SCHEMA}) in a file
 * of the repository, each numeric figure of the benchmark's JSON as min, median and max over its fresh processes;
 * and the README's table, generated from the newest line of each benchmark, CPU and arguments.
 */
final class BenchFigures {
    static final String SCHEMA = "distillery.bench/1";
    static final String TABLE_BEGIN = "<!-- bench-table:begin (bin/distillery bench table writes this) -->";
    static final String TABLE_END = "<!-- bench-table:end -->";
    /** A figure's spread (max / min over the processes) above this is a bimodality to explain or fix. */
    static final double SPREAD_LIMIT = 1.15;

    private BenchFigures() {
    }

    /** min, median and max of each numeric leaf over the runs' JSON (paths joined by '.'; arrays by index). */
    static ObjectNode aggregate(List<JsonNode> runs) {
        Map<String, List<Double>> values = new LinkedHashMap<>();
        for (JsonNode run : runs) {
            collect("", run, values);
        }
        ObjectNode out = BenchCommand.JSON.createObjectNode();
        values.forEach((path, v) -> {
            if (v.size() == runs.size()) {
                double[] s = v.stream().mapToDouble(Double::doubleValue).sorted().toArray();
                double median = s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
                out.putObject(path).put("min", s[0]).put("median", median).put("max", s[s.length - 1]);
            }
        });
        return out;
    }

    private static void collect(String prefix, JsonNode node, Map<String, List<Double>> values) {
        if (node.isNumber()) {
            values.computeIfAbsent(prefix, k -> new ArrayList<>()).add(node.asDouble());
        } else if (node.isObject()) {
            node.fields().forEachRemaining(e -> collect(prefix.isEmpty() ? e.getKey() : prefix + "." + e.getKey(),
                    e.getValue(), values));
        } else if (node.isArray()) {
            for (int i = 0; i < node.size(); i++) {
                collect(prefix + "[" + i + "]", node.get(i), values);
            }
        }
    }

    /**
     * The figures a table shows: the benchmark's ratios against its peer or a copy (top-level {@code ratio*} and
     * {@code worst_ratio*}) and each side's time per step, in the order the benchmark wrote them.
     */
    static List<String> headline(JsonNode figures) {
        List<String> paths = new ArrayList<>();
        figures.fieldNames().forEachRemaining(p -> {
            String leaf = p.substring(p.lastIndexOf('.') + 1);
            boolean topRatio = !p.contains(".") && !p.contains("[")
                    && (leaf.startsWith("ratio") || leaf.startsWith("worst_ratio"));
            boolean stepTime = leaf.equals("ms_per_step") && p.indexOf('.') == p.lastIndexOf('.');
            if (topRatio || stepTime) {
                paths.add(p);
            }
        });
        return paths;
    }

    /** Figures whose max / min exceeds {@link #SPREAD_LIMIT}, with their spread. */
    static Map<String, Double> wide(JsonNode figures) {
        Map<String, Double> out = new LinkedHashMap<>();
        for (String p : headline(figures)) {
            JsonNode f = figures.get(p);
            double spread = f.get("max").asDouble() / f.get("min").asDouble();
            if (f.get("min").asDouble() > 0 && spread > SPREAD_LIMIT) {
                out.put(p, spread);
            }
        }
        return out;
    }

    /** The records of a figures file, oldest first; a bad line names the file and line. */
    static List<JsonNode> read(Path file) throws IOException {
        List<JsonNode> records = new ArrayList<>();
        if (!Files.exists(file)) {
            return records;
        }
        List<String> lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        for (int i = 0; i < lines.size(); i++) {
            if (lines.get(i).isBlank()) {
                continue;
            }
            JsonNode r;
            try {
                r = BenchCommand.JSON.readTree(lines.get(i));
            } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
                throw new DistilleryException(file + ":" + (i + 1) + ": not a JSON record (" + e.getOriginalMessage()
                        + ")");
            }
            if (!SCHEMA.equals(r.path("schema").asText()) || !r.path("figures").isObject()) {
                throw new DistilleryException(file + ":" + (i + 1) + ": expected a " + SCHEMA
                        + " record with \"figures\", found " + lines.get(i).substring(0, Math.min(80, lines.get(i).length())));
            }
            records.add(r);
        }
        return records;
    }

    /** Appends one record (the file's other lines are kept byte for byte). */
    static void append(Path file, JsonNode record) throws IOException {
        byte[] old = Files.exists(file) ? Files.readAllBytes(file) : new byte[0];
        String line = BenchCommand.JSON.copy().disable(com.fasterxml.jackson.databind.SerializationFeature.INDENT_OUTPUT)
                .writeValueAsString(record) + "\n";
        byte[] add = line.getBytes(StandardCharsets.UTF_8);
        byte[] all = Arrays.copyOf(old, old.length + add.length);
        System.arraycopy(add, 0, all, old.length, add.length);
        if (file.getParent() != null) {
            Files.createDirectories(file.getParent());
        }
        AtomicFile.write(file, all);
    }

    /** The Markdown table of the newest record of each benchmark, arguments and CPU, in first-recorded order. */
    static String table(List<JsonNode> records) {
        Map<String, JsonNode> newest = new LinkedHashMap<>();
        for (JsonNode r : records) {
            String key = r.path("benchmark").asText() + " " + r.path("args") + " " + r.path("cpu").asText();
            newest.remove(key);
            newest.put(key, r);
        }
        StringBuilder t = new StringBuilder();
        t.append("| benchmark | CPU | commit, date | figures: median (min–max) over fresh processes |\n");
        t.append("| --- | --- | --- | --- |\n");
        for (JsonNode r : newest.values()) {
            List<String> cells = new ArrayList<>();
            JsonNode figures = r.get("figures");
            for (String p : headline(figures)) {
                JsonNode f = figures.get(p);
                cells.add(p + " " + number(f.get("median").asDouble()) + " (" + number(f.get("min").asDouble()) + "–"
                        + number(f.get("max").asDouble()) + ")");
            }
            List<String> args = new ArrayList<>();
            r.path("args").forEach(a -> args.add(a.asText()));
            t.append("| `bench ").append(r.path("benchmark").asText()).append(args.isEmpty() ? "" : " ")
                    .append(String.join(" ", args)).append("` | ").append(r.path("cpu").asText()).append(" | ")
                    .append(r.path("commit").asText()).append(", ").append(r.path("date").asText(), 0, 10)
                    .append(" | ").append(r.path("runs").asInt()).append(" processes: ")
                    .append(String.join("; ", cells)).append(" |\n");
        }
        return t.toString();
    }

    /** {@code text} with the part between the table markers replaced by {@code table}. */
    static String replaceTable(String text, String table, Path where) {
        int begin = text.indexOf(TABLE_BEGIN);
        int end = text.indexOf(TABLE_END);
        if (begin < 0 || end < begin) {
            throw new DistilleryException(where + ": expected the markers " + TABLE_BEGIN + " and " + TABLE_END
                    + ", in that order, around the benchmark table");
        }
        return text.substring(0, begin + TABLE_BEGIN.length()) + "\n" + table + text.substring(end);
    }

    private static String number(double v) {
        double a = Math.abs(v);
        return a >= 100 ? String.format(Locale.ROOT, "%.0f", v) : a >= 10 ? String.format(Locale.ROOT, "%.1f", v)
                : String.format(Locale.ROOT, "%.2f", v);
    }

    /** The arguments as a JSON array. */
    static ArrayNode array(List<String> args) {
        ArrayNode a = BenchCommand.JSON.createArrayNode();
        args.forEach(a::add);
        return a;
    }
}
