package org.distillery.workbench.core.engine;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One job to launch: a spec, the {@code distillery} command that runs it, and the options a launch
 * configuration sets. {@link #command(EngineSettings)} turns it into the process the engine's CLI runs,
 * exactly as a user would type it; the workbench re-implements none of the jobs.
 *
 * @param kind   the command
 * @param spec   the spec file (YAML)
 * @param resume continue from the newest checkpoint ({@code --resume}; training kinds only)
 * @param master    a Spark master for this launch ({@code --master}; Spark kinds only); empty for the preference's
 * @param overwrite replace an existing output folder ({@code --overwrite}; Spark kinds only, whose jobs write
 *                  their output at once)
 * @param ranks     the ranks of a train or distill job ({@code --ranks}); 0 for the spec's
 * @param out       where the job writes ({@code --out}: a folder or an {@code hdfs://} URI, as a named cluster's work
 *                  folder gives it); empty for the engine's {@code <work-dir>/<command>/<name>}
 */
public record JobLaunch(Kind kind, Path spec, boolean resume, String master, boolean overwrite, int ranks,
                        String out) {

    /** The engine's job commands, and what each spec has at its top level that the others lack. */
    public enum Kind {
        PREP("prep", true, false, "sources"),
        TEACHER_LOGITS("teacher-logits", true, false, "top_k"),
        TRAIN("train", false, true, "model"),
        DISTILL("distill", false, true, "distillation"),
        EXPERIMENT("experiment", false, false, "students");

        private final String command;
        private final boolean spark;
        private final boolean resumable;
        private final String marker;

        Kind(String command, boolean spark, boolean resumable, String marker) {
            this.command = command;
            this.spark = spark;
            this.resumable = resumable;
            this.marker = marker;
        }

        public String command() {
            return command;
        }

        /** Runs on Spark: takes {@code --master}. */
        public boolean spark() {
            return spark;
        }

        /** Checkpoints as it goes: takes {@code --resume}. */
        public boolean resumable() {
            return resumable;
        }

        /** Takes {@code --out}: every job but the experiment, which lays out its members' outputs itself. */
        public boolean placeable() {
            return this != EXPERIMENT;
        }

        /** Trains: runs over N ranks of a Spark barrier stage with {@code --ranks N} (and {@code --master}). */
        public boolean distributable() {
            return this == TRAIN || this == DISTILL;
        }

        public static Kind ofCommand(String command) {
            for (Kind k : values()) {
                if (k.command.equals(command)) {
                    return k;
                }
            }
            throw new IllegalArgumentException("no job command '" + command + "', expected one of prep, teacher-logits, "
                    + "train, distill, experiment");
        }
    }

    private static final Pattern TOP_KEY = Pattern.compile("^([A-Za-z_][A-Za-z0-9_]*)\\s*:", Pattern.MULTILINE);
    private static final Pattern NAME = Pattern.compile("^name\\s*:\\s*['\"]?([^'\"#\\s]+)", Pattern.MULTILINE);

    public JobLaunch {
        master = master == null ? "" : master.strip();
        out = out == null ? "" : out.strip();
        if (!out.isEmpty() && !kind.placeable()) {
            throw new IllegalArgumentException(kind.command() + " jobs take no output folder: each member's is its own");
        }
        if (resume && !kind.resumable()) {
            throw new IllegalArgumentException(kind.command() + " jobs do not resume: they write their output at once");
        }
        if (overwrite && !kind.spark()) {
            throw new IllegalArgumentException(kind.command() + " jobs do not overwrite: they resume from their"
                    + " checkpoints");
        }
        if (ranks < 0) {
            throw new IllegalArgumentException("ranks must be 1 or more (0: the spec's), found " + ranks);
        }
        if (ranks > 0 && !kind.distributable()) {
            throw new IllegalArgumentException(kind.command() + " jobs do not run over ranks: train and distill do");
        }
    }

    /** A launch to the engine's default output. */
    public JobLaunch(Kind kind, Path spec, boolean resume, String master, boolean overwrite, int ranks) {
        this(kind, spec, resume, master, overwrite, ranks, "");
    }

    /** A launch with the spec's ranks. */
    public JobLaunch(Kind kind, Path spec, boolean resume, String master, boolean overwrite) {
        this(kind, spec, resume, master, overwrite, 0);
    }

    /** A launch that leaves an existing output alone, with the spec's ranks. */
    public JobLaunch(Kind kind, Path spec, boolean resume, String master) {
        this(kind, spec, resume, master, false, 0);
    }

    /** This launch resumed: the same job, spec, master and ranks, from the newest checkpoint. */
    public JobLaunch resumed() {
        return new JobLaunch(kind, spec, true, master, false, ranks, out);
    }

    /**
     * The kind of job a spec describes, from the keys at its top level (a distill spec also has a model's
     * keys, so the most specific marker wins); empty when the file is no spec of any kind.
     */
    public static java.util.Optional<Kind> guess(Path spec) {
        Set<String> keys = new LinkedHashSet<>();
        try {
            Matcher m = TOP_KEY.matcher(Files.readString(spec, StandardCharsets.UTF_8));
            while (m.find()) {
                keys.add(m.group(1));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(spec + ": cannot read the spec: " + e.getMessage(), e);
        }
        for (Kind k : List.of(Kind.EXPERIMENT, Kind.PREP, Kind.TEACHER_LOGITS, Kind.DISTILL, Kind.TRAIN)) {
            if (keys.contains(k.marker)) {
                return java.util.Optional.of(k);
            }
        }
        return java.util.Optional.empty();
    }

    /** The spec's {@code name}, which names its output folder; empty when the file has none at its top level. */
    public static String specName(Path spec) {
        try {
            Matcher m = NAME.matcher(Files.readString(spec, StandardCharsets.UTF_8));
            return m.find() ? m.group(1) : "";
        } catch (IOException e) {
            throw new UncheckedIOException(spec + ": cannot read the spec: " + e.getMessage(), e);
        }
    }

    /** The process that runs this job: its results on stdout, JSON progress events and errors on stderr. */
    public EngineCommand command(EngineSettings settings) {
        List<String> cmd = new ArrayList<>();
        cmd.add(settings.launcher().toString());
        cmd.add("--progress=json");
        cmd.add("--work-dir=" + settings.workDir());
        if (!settings.trackingUri().isEmpty()) {
            cmd.add("--tracking-uri=" + settings.trackingUri());
        }
        cmd.add(kind.command());
        cmd.add(spec.toAbsolutePath().toString());
        String m = !master.isEmpty() ? master : settings.sparkMaster();
        boolean overRanks = kind.distributable() && ranks > 1;
        if ((kind.spark() || overRanks) && !m.isEmpty()) {
            cmd.add("--master=" + m);
        }
        if (kind.distributable() && ranks > 0) {
            cmd.add("--ranks=" + ranks);
        }
        if (resume) {
            cmd.add("--resume");
        }
        if (overwrite) {
            cmd.add("--overwrite");
        }
        if (!out.isEmpty()) {
            cmd.add("--out=" + out);
        }
        Path dir = Files.isDirectory(settings.engine()) ? settings.engine() : spec.toAbsolutePath().getParent();
        return new EngineCommand(cmd, settings.environment(), dir);
    }

    /** The launch configuration attributes ({@code org.eclipse.debug.core}) that store this launch. */
    public static final String ATTR_KIND = "org.distillery.launch.kind";
    public static final String ATTR_SPEC = "org.distillery.launch.spec";
    public static final String ATTR_MASTER = "org.distillery.launch.master";
    public static final String ATTR_RESUME = "org.distillery.launch.resume";
    public static final String ATTR_OVERWRITE = "org.distillery.launch.overwrite";
    public static final String ATTR_RANKS = "org.distillery.launch.ranks";
    public static final String ATTR_OUT = "org.distillery.launch.out";

    /** This launch as launch configuration attributes: kind, spec, Spark master, resume, overwrite, ranks, output. */
    public Map<String, Object> attributes() {
        Map<String, Object> a = new LinkedHashMap<>();
        a.put(ATTR_KIND, kind.command());
        a.put(ATTR_SPEC, spec.toAbsolutePath().toString());
        a.put(ATTR_MASTER, master);
        a.put(ATTR_RESUME, resume);
        a.put(ATTR_OVERWRITE, overwrite);
        a.put(ATTR_RANKS, ranks);
        a.put(ATTR_OUT, out);
        return a;
    }

    /**
     * The launch a configuration's attributes describe. A configuration edited by hand or written by
     * another version gets a message naming the attribute and what it should hold.
     */
    public static JobLaunch fromAttributes(String configuration, Map<String, Object> a) {
        Object kind = a.get(ATTR_KIND);
        Object spec = a.get(ATTR_SPEC);
        Object master = a.getOrDefault(ATTR_MASTER, "");
        Object resume = a.getOrDefault(ATTR_RESUME, false);
        Object overwrite = a.getOrDefault(ATTR_OVERWRITE, false);
        Object ranks = a.getOrDefault(ATTR_RANKS, 0);
        Object out = a.getOrDefault(ATTR_OUT, "");
        if (!(spec instanceof String s) || s.isBlank()) {
            throw new IllegalArgumentException(configuration + ": " + ATTR_SPEC + " must name the spec file, found "
                    + spec);
        }
        if (!(kind instanceof String k)) {
            throw new IllegalArgumentException(configuration + ": " + ATTR_KIND + " must be one of prep, teacher-logits,"
                    + " train, distill, experiment; found " + kind);
        }
        if (!(master instanceof String m)) {
            throw new IllegalArgumentException(configuration + ": " + ATTR_MASTER + " must be a Spark master URL or"
                    + " empty, found " + master);
        }
        if (!(resume instanceof Boolean r)) {
            throw new IllegalArgumentException(configuration + ": " + ATTR_RESUME + " must be true or false, found "
                    + resume);
        }
        if (!(overwrite instanceof Boolean o)) {
            throw new IllegalArgumentException(configuration + ": " + ATTR_OVERWRITE + " must be true or false, found "
                    + overwrite);
        }
        if (!(ranks instanceof Integer n)) {
            throw new IllegalArgumentException(configuration + ": " + ATTR_RANKS + " must be a number of ranks (0: the"
                    + " spec's), found " + ranks);
        }
        if (!(out instanceof String o2)) {
            throw new IllegalArgumentException(configuration + ": " + ATTR_OUT + " must be an output folder or URI, or"
                    + " empty, found " + out);
        }
        Kind parsed;
        try {
            parsed = Kind.ofCommand(k);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(configuration + ": " + ATTR_KIND + ": " + e.getMessage(), e);
        }
        try {
            return new JobLaunch(parsed, Path.of(s), r, m, o, n, o2);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(configuration + ": " + e.getMessage(), e);
        }
    }

    /** A launch configuration name for this launch: {@code train uitest} for {@code train} of {@code uitest.yaml}. */
    public String configurationName() {
        String file = spec.getFileName().toString();
        int dot = file.lastIndexOf('.');
        return kind.command() + " " + (dot > 0 ? file.substring(0, dot) : file);
    }

    /** A short label: {@code train demo.yaml}. */
    public String label() {
        return kind.command() + " " + spec.getFileName() + (ranks > 0 ? " (" + ranks + " ranks)" : "")
                + (resume ? " (resume)" : "") + (overwrite ? " (overwrite)" : "");
    }
}
