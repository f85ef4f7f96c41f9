package org.distillery.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.distillery.core.testing.RepoFixtures;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/**
 * docs/commands.md is every command's {@code --help}, as users see it: it fails when a help text changes and the
 * reference does not. {@code -Ddistillery.reference.update=true} rewrites it.
 */
class CommandReferenceTest {
    private static final Path REFERENCE = RepoFixtures.root().resolve("docs/commands.md");

    private static void walk(CommandLine c, List<String> path, List<List<String>> out) {
        out.add(List.copyOf(path));
        c.getSubcommands().forEach((name, sub) -> {
            if (sub.getCommandSpec().name().equals(name)) { // not an alias
                List<String> p = new ArrayList<>(path);
                p.add(name);
                walk(sub, p, out);
            }
        });
    }

    static String reference() {
        List<List<String>> commands = new ArrayList<>();
        walk(new CommandLine(new Distillery()), new ArrayList<>(), commands);
        StringBuilder b = new StringBuilder("""
                # Command reference

                Every command's `--help`, generated from the help texts themselves (`CommandReferenceTest` fails when
                they change and this page does not; `./mvnw -pl training-jobs/cli test -Dtest=CommandReferenceTest
                -Ddistillery.reference.update=true` rewrites it). Exit codes and where output goes are in the README.
                """);
        for (List<String> c : commands) {
            List<String> args = new ArrayList<>(c);
            args.add("--help");
            CliRun r = CliRun.of(args.toArray(String[]::new));
            assertEquals(0, r.code(), String.join(" ", args) + ": " + r.err());
            b.append("\n## distillery").append(c.isEmpty() ? "" : " " + String.join(" ", c)).append("\n\n```text\n")
                    .append(r.out().stripTrailing()).append("\n```\n");
        }
        return b.toString();
    }

    @Test
    void docsCommandsMdIsTheHelpOfEveryCommand() throws Exception {
        String now = reference();
        if (Boolean.getBoolean("distillery.reference.update")) {
            Files.writeString(REFERENCE, now, StandardCharsets.UTF_8);
        }
        assertTrue(Files.exists(REFERENCE), REFERENCE + " is missing: run this test with -Ddistillery.reference.update=true");
        assertEquals(now, Files.readString(REFERENCE, StandardCharsets.UTF_8), REFERENCE + " differs from the help"
                + " texts: run this test with -Ddistillery.reference.update=true and commit the result");
    }

    /** The README shows each command (the reference has the rest). */
    @Test
    void theReadmeShowsEveryCommand() throws Exception {
        String readme = Files.readString(RepoFixtures.root().resolve("README.md"), StandardCharsets.UTF_8);
        for (String name : new CommandLine(new Distillery()).getSubcommands().keySet()) {
            assertTrue(readme.contains("bin/distillery " + name), "README.md never shows bin/distillery " + name);
        }
    }
}
