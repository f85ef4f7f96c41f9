package org.distillery.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.distillery.core.DistilleryException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Figures per commit: min/median/max over fresh processes, the figures file, and the README table made from it. */
class BenchRecordTest {
    private static JsonNode json(String s) throws Exception {
        return BenchCommand.JSON.readTree(s);
    }

    @Test
    void everyNumericFigureBecomesMinMedianMax() throws Exception {
        List<JsonNode> runs = List.of(
                json("{\"benchmark\":\"train\",\"distillery\":{\"ms_per_step\":90,\"kernels\":\"v\"},"
                        + "\"pytorch\":{\"ms_per_step\":100},\"ratio_distillery_over_pytorch\":1.11,\"cases\":[{\"x\":1}]}"),
                json("{\"benchmark\":\"train\",\"distillery\":{\"ms_per_step\":80,\"kernels\":\"v\"},"
                        + "\"pytorch\":{\"ms_per_step\":96},\"ratio_distillery_over_pytorch\":1.2,\"cases\":[{\"x\":3}]}"),
                json("{\"benchmark\":\"train\",\"distillery\":{\"ms_per_step\":120,\"kernels\":\"v\"},"
                        + "\"pytorch\":{\"ms_per_step\":98},\"ratio_distillery_over_pytorch\":0.82,\"cases\":[{\"x\":2}]}"));
        JsonNode a = BenchFigures.aggregate(runs);
        assertEquals(80, a.get("distillery.ms_per_step").get("min").asDouble());
        assertEquals(90, a.get("distillery.ms_per_step").get("median").asDouble());
        assertEquals(120, a.get("distillery.ms_per_step").get("max").asDouble());
        assertEquals(2, a.get("cases[0].x").get("median").asDouble());
        assertEquals(List.of("distillery.ms_per_step", "pytorch.ms_per_step", "ratio_distillery_over_pytorch"),
                BenchFigures.headline(a));
        assertEquals(List.of("distillery.ms_per_step", "ratio_distillery_over_pytorch"),
                List.copyOf(BenchFigures.wide(a).keySet()), "120/80 and 1.2/0.82 spread past 1.15; 100/96 does not");
    }

    @Test
    void theTableShowsTheNewestRecordOfEachBenchmarkAndCpu(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("figures.jsonl");
        for (String commit : List.of("aaa1111", "bbb2222")) {
            BenchFigures.append(file, json("{\"schema\":\"distillery.bench/1\",\"commit\":\"" + commit + "\","
                    + "\"date\":\"2026-12-07T19:00:00Z\",\"cpu\":\"AMD EPYC, AVX2, 2 cores\",\"benchmark\":\"train\","
                    + "\"args\":[\"--arch\",\"llama\"],\"runs\":3,\"figures\":{\"distillery.ms_per_step\":"
                    + "{\"min\":80,\"median\":87.44,\"max\":95},\"ratio_x\":{\"min\":0.9,\"median\":1.02,\"max\":1.1}}}"));
        }
        List<JsonNode> records = BenchFigures.read(file);
        assertEquals(2, records.size());
        String table = BenchFigures.table(records);
        assertTrue(table.contains("| `bench train --arch llama` | AMD EPYC, AVX2, 2 cores | bbb2222, 2026-12-07 | 3"
                + " processes: distillery.ms_per_step 87.4 (80.0–95.0); ratio_x 1.02 (0.90–1.10) |"), table);
        assertTrue(!table.contains("aaa1111"), "only the newest record of a benchmark on a CPU");

        Path readme = dir.resolve("README.md");
        Files.writeString(readme, "intro\n" + BenchFigures.TABLE_BEGIN + "\nold\n" + BenchFigures.TABLE_END + "\nrest\n");
        String out = BenchFigures.replaceTable(Files.readString(readme), table, readme);
        assertTrue(out.startsWith("intro\n" + BenchFigures.TABLE_BEGIN + "\n| benchmark"), out);
        assertTrue(out.endsWith(BenchFigures.TABLE_END + "\nrest\n") && !out.contains("old"), out);
        DistilleryException e = assertThrows(DistilleryException.class,
                () -> BenchFigures.replaceTable("no markers", table, readme));
        assertTrue(e.getMessage().startsWith(readme + ": expected the markers"), e.getMessage());
    }

    @Test
    void aBadLineOfTheFiguresFileIsNamed(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("figures.jsonl");
        Files.writeString(file, "{\"schema\":\"distillery.bench/1\",\"figures\":{}}\n{\"schema\":\"other\"}\n",
                StandardCharsets.UTF_8);
        DistilleryException e = assertThrows(DistilleryException.class, () -> BenchFigures.read(file));
        assertTrue(e.getMessage().startsWith(file + ":2: expected a distillery.bench/1 record"), e.getMessage());
    }

    /** A real benchmark in three fresh JVMs: the ring all-reduce, small. */
    @Test
    void recordRunsTheBenchmarkInFreshProcesses(@TempDir Path dir) throws Exception {
        Path figures = dir.resolve("figures.jsonl");
        CliRun r = CliRun.of("bench", "record", "--runs", "3", "--figures", figures.toString(), "--bench-dir",
                dir.resolve("bench").toString(), "--", "allreduce", "--ranks", "2", "--mb", "1", "--repeat", "2");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("process 1/3: bench allreduce") && r.out().contains("process 3/3: bench allreduce"),
                r.out());
        JsonNode record = BenchFigures.read(figures).get(0);
        assertEquals("allreduce", record.get("benchmark").asText());
        assertEquals(3, record.get("runs").asInt());
        assertTrue(record.get("cpu").asText().contains("cores"), record.toString());
        JsonNode bus = record.get("figures").get("cases[0].bus_gb_per_s");
        assertTrue(bus.get("min").asDouble() > 0 && bus.get("min").asDouble() <= bus.get("median").asDouble()
                && bus.get("median").asDouble() <= bus.get("max").asDouble(), bus.toString());
        assertTrue(Files.exists(dir.resolve("bench/allreduce-runs.json")));
        try (var left = Files.list(dir.resolve("bench"))) {
            assertEquals(List.of("allreduce-runs.json"), left.map(p -> p.getFileName().toString()).toList(),
                    "the processes' own folders are gone");
        }
        CliRun two = CliRun.of("bench", "record", "--runs", "2", "allreduce");
        assertTrue(two.code() != 0, "exit " + two.code());
        assertTrue(two.err().contains("--runs 2: a recorded figure needs at least 3 fresh processes"), two.err());
    }
}
