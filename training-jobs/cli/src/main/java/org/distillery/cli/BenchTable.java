package org.distillery.cli;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.distillery.core.DistilleryException;
import org.distillery.core.io.AtomicFile;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** Writes the README's benchmark table from the figures file: the newest record of each benchmark, arguments, CPU. */
@Command(name = "table", description = "Write the README's benchmark table from the figures file.")
final class BenchTable implements Callable<Integer> {
    @Option(names = "--figures", defaultValue = "docs/bench/figures.jsonl")
    Path figures;

    @Option(names = "--readme", defaultValue = "README.md")
    Path readme;

    @Override
    public Integer call() throws Exception {
        String home = System.getProperty("distillery.home");
        Path base = home == null ? Path.of("") : Path.of(home);
        Path file = base.resolve(figures);
        Path out = base.resolve(readme);
        var records = BenchFigures.read(file);
        if (records.isEmpty()) {
            throw new DistilleryException(file + ": no figures recorded yet (bench record writes them)");
        }
        String text = Files.readString(out, StandardCharsets.UTF_8);
        String table = BenchFigures.table(records);
        AtomicFile.write(out, BenchFigures.replaceTable(text, table, out).getBytes(StandardCharsets.UTF_8));
        System.out.println("bench table: " + table.lines().count() + " lines from " + records.size() + " records of "
                + file + " into " + out);
        return 0;
    }
}
