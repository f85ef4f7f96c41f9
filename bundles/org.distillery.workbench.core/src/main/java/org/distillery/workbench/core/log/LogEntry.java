package org.distillery.workbench.core.log;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One entry of the Eclipse platform log ({@code <workspace>/.metadata/.log}, where every plug-in's logged status and
 * every failed Eclipse Job's result is written), as the workbench's Error Log view lists it.
 *
 * @param time     when it was logged, as the log writes it ({@code 2026-12-01 02:10:05.123})
 * @param plugin   the plug-in that logged it
 * @param severity its status severity
 * @param message  the message, lines joined
 * @param stack    the stack trace, or "" without one
 */
public record LogEntry(String time, String plugin, Severity severity, String message, String stack) {
    /** {@code IStatus}'s severities, by their codes in the log. */
    public enum Severity {
        OK, INFO, WARNING, ERROR, CANCEL;

        public static Severity of(int code) {
            return switch (code) {
                case 1 -> INFO;
                case 2 -> WARNING;
                case 4 -> ERROR;
                case 8 -> CANCEL;
                default -> OK;
            };
        }
    }

    /** A file and line a message points at, as the engine's errors do ({@code spec.yaml:6: unknown field ...}). */
    public record SourceLine(Path file, int line) {
    }

    // an absolute or relative path with an extension, then ':' and the line, then ':' or the end: not a URL's port
    private static final Pattern SOURCE = Pattern.compile("(?<![\\w/:.])((?:/|\\.{1,2}/)?[\\w.-][^\\s:;,'\"()]*\\.\\w+):"
            + "(\\d+)(?=:|$|\\s)");
    private static final Pattern ENTRY = Pattern.compile("!ENTRY (\\S+) (\\d+) -?\\d+ (\\S+ \\S+)");

    /** The first file and line the message names, when it names one. */
    public Optional<SourceLine> source() {
        Matcher m = SOURCE.matcher(message);
        return m.find() ? Optional.of(new SourceLine(Path.of(m.group(1)), Integer.parseInt(m.group(2))))
                : Optional.empty();
    }

    /**
     * The top-level entries of a platform log's text, oldest first. Sub-entries (a multi-status's children) are left
     * out, as their parent's message stands for them; lines the format does not explain are skipped.
     */
    public static List<LogEntry> parse(String text) {
        List<LogEntry> out = new ArrayList<>();
        String[] lines = text.split("\\R", -1);
        for (int i = 0; i < lines.length; i++) {
            Matcher m = ENTRY.matcher(lines[i]);
            if (!m.matches()) {
                continue;
            }
            StringBuilder message = new StringBuilder();
            StringBuilder stack = new StringBuilder();
            StringBuilder into = null;
            while (i + 1 < lines.length && !lines[i + 1].startsWith("!ENTRY ") && !lines[i + 1].startsWith("!SESSION ")
                    && !lines[i + 1].startsWith("!SUBENTRY ")) {
                String line = lines[++i];
                if (line.startsWith("!MESSAGE ")) {
                    into = message;
                    line = line.substring("!MESSAGE ".length());
                } else if (line.startsWith("!STACK ")) {
                    into = stack;
                    continue;
                } else if (line.startsWith("!")) {
                    into = null;
                    continue;
                }
                if (into != null) {
                    into.append(into.isEmpty() ? "" : "\n").append(line);
                }
            }
            out.add(new LogEntry(m.group(3), m.group(1), Severity.of(Integer.parseInt(m.group(2))),
                    message.toString().strip(), stack.toString().strip()));
        }
        return out;
    }
}
