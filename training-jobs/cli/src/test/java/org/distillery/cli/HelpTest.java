package org.distillery.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** Help and discovery as users of git, kubectl or spark-submit expect them. */
class HelpTest {
    /** Every command path: {@code [train]}, {@code [datasets, list]}, ... */
    private static List<List<String>> commands() {
        List<List<String>> out = new ArrayList<>();
        walk(new CommandLine(new Distillery()), new ArrayList<>(), out);
        return out;
    }

    private static void walk(CommandLine c, List<String> path, List<List<String>> out) {
        out.add(List.copyOf(path));
        c.getSubcommands().forEach((name, sub) -> {
            if (!sub.getCommandSpec().name().equals(name)) {
                return; // an alias
            }
            List<String> p = new ArrayList<>(path);
            p.add(name);
            walk(sub, p, out);
        });
    }

    @Test
    void everyCommandAnswersHelpWithItsUsageAndExitZero() {
        List<List<String>> all = commands();
        assertTrue(all.size() > 25, "commands found: " + all);
        for (List<String> path : all) {
            for (String flag : List.of("--help", "-h")) {
                List<String> args = new ArrayList<>(path);
                args.add(flag);
                CliRun r = CliRun.of(args.toArray(String[]::new));
                assertEquals(0, r.code(), args + ": " + r.err());
                if (path.equals(List.of("help"))) { // picocli's help command describes itself in its own words
                    assertTrue(r.out().contains("Usage: distillery help"), r.out());
                    continue;
                }
                assertTrue(r.out().startsWith("Usage: " + String.join(" ", List.of("distillery", String.join(" ", path)))
                        .strip()), args + " printed: " + r.out());
                assertEquals("", r.err(), args.toString());
            }
        }
    }

    @Test
    void helpCommandShowsACommandsUsage() {
        CliRun r = CliRun.of("help", "train");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().startsWith("Usage: distillery train"), r.out());
        CliRun top = CliRun.of("help");
        assertEquals(0, top.code(), top.err());
        assertTrue(top.out().startsWith("Usage: distillery"), top.out());
    }

    @Test
    void defaultsAndPositionalParametersAreDescribed() {
        assertTrue(CliRun.of("bench", "distill", "--help").out().contains("Default: 100"), "--steps' default shown");
        for (List<String> path : commands()) {
            CommandLine c = new CommandLine(new Distillery());
            for (String name : path) {
                c = c.getSubcommands().get(name);
            }
            for (CommandLine.Model.PositionalParamSpec p : c.getCommandSpec().positionalParameters()) {
                assertTrue(p.description().length > 0 && !p.description()[0].isBlank(),
                        path + " " + p.paramLabel() + " has no description");
            }
        }
    }

    /** A command lists the global options that mean something to it, and no others. */
    @Test
    void onlyOptionsThatApplyAreListed() {
        String generate = CliRun.of("generate", "--help").out();
        for (String o : List.of("--tracking-uri", "--datasets", "--work-dir", "--progress")) {
            assertTrue(!generate.contains(o), o + " on generate:\n" + generate);
        }
        String encode = CliRun.of("tokenizer", "encode", "--help").out();
        assertTrue(!encode.contains("--tracking-uri") && !encode.contains("--datasets"), encode);
        String train = CliRun.of("train", "--help").out();
        for (String o : List.of("--tracking-uri", "--work-dir", "--progress", "--set", "--verbose")) {
            assertTrue(train.contains(o), o + " missing on train:\n" + train);
        }
        assertTrue(!train.contains("--datasets"), train);
        CliRun misplaced = CliRun.of("generate", "m.ckpt", "hi", "--tracking-uri", "http://x");
        assertEquals(2, misplaced.code());
        assertTrue(misplaced.err().startsWith("error: Unknown options: '--tracking-uri'"), misplaced.err());
        // Before the command, as scripts and the workbench write them, global options are taken by every command.
        assertEquals(0, CliRun.of("--work-dir", "/nonexistent-distillery", "--tracking-uri", "", "runs", "list").code());
        assertEquals(0, CliRun.of("runs", "list", "--work-dir", "/nonexistent-distillery").code());
    }

    @Test
    void aMisspeltOptionIsNamedWithWhatWasMeant() {
        CliRun r = CliRun.of("export", "model.ckpt", "--fromat", "hf");
        assertEquals(2, r.code());
        assertEquals(List.of("error: Unknown option: '--fromat' (did you mean '--format'?)",
                "Try 'distillery export --help' for more information."), r.err().lines().toList());
        assertEquals("", r.out());
        CliRun missing = CliRun.of("train");
        assertEquals(2, missing.code());
        assertTrue(missing.err().startsWith("error: Missing required parameter: 'SPEC'"), missing.err());
        assertFalse(missing.err().contains("Usage:"), "one line and a pointer to --help, not the whole usage");
    }

    @Test
    void shellCompletionIsGenerated() {
        CliRun r = CliRun.of("generate-completion");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("complete -F") && r.out().contains("distillery"), r.out());
    }
}
