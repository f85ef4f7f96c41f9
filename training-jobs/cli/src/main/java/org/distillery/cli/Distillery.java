package org.distillery.cli;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.distillery.core.DistilleryException;
import org.distillery.core.dataset.DatasetCatalog;
import org.distillery.core.io.FileAccessException;
import org.distillery.core.progress.GracefulStop;
import org.distillery.core.progress.JsonLinesProgress;
import org.distillery.core.progress.ProgressListener;
import org.distillery.core.spec.SpecReader;
import picocli.AutoComplete;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The {@code distillery} command. Results go to stdout; errors to stderr as one {@code error:} line, with the exit
 * code {@link ExitCode} gives its kind (2 for a user error: a spec, a file, a dataset; 3 for a failed read or
 * write). A failed read or write names the file and says what happened in plain words ({@code no space left on device}); the stack
 * trace is printed with {@code --verbose} only, or for an error Distillery did not foresee (a bug).
 * Progress is a bar on a terminal and JSON lines ({@code distillery.progress/1}) on stderr otherwise, or in the
 * file {@code --progress-file} names.
 */
@Command(name = "distillery", mixinStandardHelpOptions = true, versionProvider = Distillery.Version.class,
        description = "Prepare text with Spark, train and distill small GPT models, export them for serving.",
        subcommands = {DatasetsCommand.class, PrepCommand.class, ShardsCommand.class, TokenizerCommand.class,
            TrainCommand.class, TeacherLogitsCommand.class, DistillCommand.class, ExperimentCommand.class,
            GenerateCommand.class, ExportCommand.class, ImportCommand.class, RunsCommand.class, BenchCommand.class,
            ValidateCommand.class, ExportsCommand.class, ScorecardCommand.class, CommandLine.HelpCommand.class,
            AutoComplete.GenerateCompletion.class})
public final class Distillery {
    /** How progress is shown. */
    enum ProgressMode { auto, bar, json, none }

    @Option(names = "--progress", description = "auto (a bar on a terminal, else JSON lines on stderr), bar, json or"
            + " none",
            defaultValue = "auto", scope = CommandLine.ScopeType.INHERIT)
    ProgressMode progressMode;

    @Option(names = "--work-dir", description = "where fetched datasets and job outputs go (default: $DISTILLERY_WORK_DIR"
            + " or ./work)", scope = CommandLine.ScopeType.INHERIT)
    Path workDir;

    @Option(names = "--datasets", description = "the dataset descriptors folder (default: datasets/ of the checkout)",
            scope = CommandLine.ScopeType.INHERIT)
    Path datasetsDir;

    @Option(names = "--verbose", description = "print the stack trace of an error too",
            scope = CommandLine.ScopeType.INHERIT)
    boolean verbose;

    public static void main(String[] args) {
        System.exit(run(args, System.out, System.err));
    }

    /** Runs the command line; returns the exit code. */
    public static int run(String[] args, PrintStream out, PrintStream err) {
        Distillery top = new Distillery();
        CommandLine cl = new CommandLine(top);
        helpEverywhere(cl);
        cl.setOut(new java.io.PrintWriter(out, true));
        cl.setErr(new java.io.PrintWriter(err, true));
        cl.setParameterExceptionHandler(Distillery::usageError);
        cl.setExecutionExceptionHandler((e, line, parsed) -> {
            Failure f = Failure.of(e);
            err.println("error: " + f.message());
            if (top.verbose || f.unforeseen()) {
                e.printStackTrace(err);
            }
            return f.exitCode();
        });
        try {
            return cl.execute(args);
        } finally {
            out.flush();
            err.flush();
            GracefulStop.end(); // a SIGTERM's shutdown waited for the job's run to close and its error line
        }
    }

    /**
     * Every command and subcommand answers {@code -h}/{@code --help} with its usage (and exit 0, whatever else
     * the command line lacks), and shows each option's default.
     */
    private static void helpEverywhere(CommandLine c) {
        CommandLine.Model.CommandSpec spec = c.getCommandSpec();
        if (spec.options().stream().noneMatch(CommandLine.Model.OptionSpec::usageHelp)) {
            spec.addOption(CommandLine.Model.OptionSpec.builder("-h", "--help").usageHelp(true)
                    .description("Show this help message and exit.").build());
        }
        spec.usageMessage().showDefaultValues(true);
        if (c.getParent() != null) {
            String command = spec.qualifiedName(" ").substring(spec.root().name().length() + 1);
            for (CommandLine.Model.OptionSpec o : List.copyOf(spec.options())) {
                Set<String> where = APPLIES.get(o.longestName());
                if (o.inherited() && where != null && !where.contains(command)) {
                    spec.remove(o);
                }
            }
        }
        c.getSubcommands().values().forEach(Distillery::helpEverywhere);
    }

    /**
     * The commands each global option means something to: it is offered (and listed in the help) there only; given
     * before the command it is accepted anywhere, as {@code distillery --work-dir DIR COMMAND} always was.
     * {@code --verbose} and {@code --help} apply everywhere.
     */
    static final Map<String, Set<String>> APPLIES = Map.of(
            "--work-dir", Set.of("prep", "train", "distill", "teacher-logits", "experiment", "export", "import",
                    "validate", "runs list", "runs show", "runs sync", "exports list", "datasets list",
                    "datasets fetch", "datasets sample", "bench prep", "bench tokenizer"),
            "--datasets", Set.of("prep", "validate", "datasets list", "datasets fetch", "datasets sample",
                    "bench prep", "bench tokenizer"),
            "--tracking-uri", Set.of("train", "distill", "experiment", "export"),
            "--progress", Set.of("prep", "train", "distill", "teacher-logits", "experiment", "export", "exports check"),
            "--progress-file", Set.of("prep", "train", "distill", "teacher-logits", "experiment", "export",
                    "exports check"));

    /**
     * A command line picocli cannot parse: one {@code error:} line, what may have been meant, where the help is;
     * exit 2. An unknown option is named even when picocli first finds a required one missing (a misspelt
     * {@code --fromat} is the cause of a missing {@code --format}).
     */
    private static int usageError(CommandLine.ParameterException ex, String[] args) {
        CommandLine cmd = ex.getCommandLine();
        java.io.PrintWriter err = cmd.getErr();
        CommandLine.ParameterException shown = ex;
        if (ex instanceof CommandLine.MissingParameterException) {
            java.util.List<String> unknown = new java.util.ArrayList<>();
            for (String a : args) {
                String name = a.contains("=") ? a.substring(0, a.indexOf('=')) : a;
                if (name.startsWith("-") && name.length() > 1 && !name.equals("--") && !name.matches("-[0-9.].*")
                        && cmd.getCommandSpec().findOption(name) == null && cmd.getSubcommands().get(name) == null) {
                    unknown.add(a);
                }
            }
            if (!unknown.isEmpty()) {
                shown = new CommandLine.UnmatchedArgumentException(cmd, unknown);
            }
        }
        String hint = "";
        if (shown instanceof CommandLine.UnmatchedArgumentException u && !u.getUnmatched().isEmpty()) {
            String first = u.getUnmatched().get(0);
            hint = SpecReader.closest(first.contains("=") ? first.substring(0, first.indexOf('=')) : first,
                    List.copyOf(cmd.getCommandSpec().optionsMap().keySet())).map(o -> " (did you mean '" + o + "'?)")
                    .orElse("");
        }
        err.println("error: " + shown.getMessage() + hint);
        err.println("Try '" + cmd.getCommandSpec().qualifiedName() + " --help' for more information.");
        err.flush();
        return ExitCode.BAD_INPUT;
    }

    /**
     * What the {@code error:} line says about a failed command: the first error in the cause chain that
     * Distillery raised for the user (exit 2), or that is a failed read or write (exit 3: the file and the
     * problem in plain words); anything else is {@code unforeseen} (a bug) and shows its stack trace.
     */
    record Failure(String message, int exitCode, boolean unforeseen) {
        static Failure of(Throwable e) {
            for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
                if (t instanceof DistilleryException) {
                    return new Failure(t.getMessage(), ExitCode.BAD_INPUT, false);
                }
                if (t instanceof IOException io) {
                    return new Failure(FileAccessException.describe(io), ExitCode.IO_FAILED, false);
                }
            }
            return new Failure(e.toString(), ExitCode.BUG, true);
        }
    }

    /**
     * What a {@code distillery} exit status means, the same for every command (the README's table). 130 and 143 are
     * the shell's for SIGINT and SIGTERM: a training job stopped by SIGTERM has written its checkpoint first.
     */
    static final class ExitCode {
        /** The command did what was asked. */
        static final int OK = 0;
        /** A check ran and found the data wanting: {@code shards verify}, {@code exports check}. */
        static final int CHECK_FAILED = 1;
        /** The command line, a spec, or an input it names is wrong or missing (the message says which). */
        static final int BAD_INPUT = 2;
        /** A read or write failed: no space left, permission denied, read-only file system. */
        static final int IO_FAILED = 3;
        /** An error Distillery did not foresee: a bug; the stack trace is printed. */
        static final int BUG = 4;

        private ExitCode() {
        }
    }

    Path workDir() {
        if (workDir != null) {
            return workDir.toAbsolutePath();
        }
        String env = System.getenv("DISTILLERY_WORK_DIR");
        return Path.of(env != null && !env.isBlank() ? env : "work").toAbsolutePath();
    }

    /**
     * Which work folder is in use and how it was chosen, for a listing that found nothing there: run from outside
     * the checkout, {@code ./work} is another folder than the one the jobs wrote.
     */
    String workDirNote() {
        String env = System.getenv("DISTILLERY_WORK_DIR");
        String how = workDir != null ? "given by --work-dir"
                : env != null && !env.isBlank() ? "from $DISTILLERY_WORK_DIR" : "./work of the current folder";
        return "the work folder is " + workDir() + " (" + how + "; --work-dir or $DISTILLERY_WORK_DIR choose another)";
    }

    /**
     * The dataset descriptors: --datasets, else the checkout's datasets/ (DISTILLERY_HOME, or ./datasets), else
     * the copy the job jar carries, so that a jar submitted with spark-submit needs no checkout.
     */
    DatasetCatalog catalog() {
        Path dir = datasetsDir;
        if (dir == null) {
            String home = System.getProperty("distillery.home", System.getenv("DISTILLERY_HOME"));
            dir = home != null ? Path.of(home, "datasets") : Path.of("datasets");
            if (!java.nio.file.Files.isDirectory(dir)) {
                Path bundled = bundledCatalog();
                dir = bundled != null ? bundled : dir;
            }
        }
        return new DatasetCatalog(dir.toAbsolutePath(), workDir());
    }

    /** The descriptors packed into this jar at build time (datasets/NAME/dataset.yaml), or null. */
    static Path bundledCatalog() {
        java.net.URL url = Distillery.class.getResource(BUNDLED_CATALOG);
        if (url == null) {
            return null;
        }
        try {
            java.net.URI uri = url.toURI();
            if ("jar".equals(uri.getScheme())) {
                try {
                    java.nio.file.FileSystems.getFileSystem(uri);
                } catch (java.nio.file.FileSystemNotFoundException e) {
                    java.nio.file.FileSystems.newFileSystem(uri, java.util.Map.of());
                }
            }
            return Path.of(uri);
        } catch (java.net.URISyntaxException | java.io.IOException e) {
            throw new DistilleryException(url + ": cannot read the dataset catalogue inside the jar: " + e.getMessage(), e);
        }
    }

    /** Where the build puts the checkout's dataset descriptors inside the jar. */
    static final String BUNDLED_CATALOG = "/org/distillery/datasets";

    @Option(names = "--progress-file", paramLabel = "FILE", description = "also write the JSON progress events to"
            + " FILE (replaced); with it, --progress=auto shows no events on stderr off a terminal",
            scope = CommandLine.ScopeType.INHERIT)
    Path progressFile;

    /**
     * The progress listener for this run: a bar on a terminal, or JSON lines on stderr, so that stdout holds only
     * the results ({@code cmd > results.txt}); and the JSON lines into {@code --progress-file} when named.
     */
    ProgressListener progress() {
        ProgressMode mode = progressMode;
        if (mode == ProgressMode.auto) {
            mode = terminal() ? ProgressMode.bar : progressFile != null ? ProgressMode.none : ProgressMode.json;
        }
        ProgressListener shown = switch (mode) {
            case json -> new JsonLinesProgress(System.err);
            case bar -> new TerminalProgress();
            default -> ProgressListener.NONE;
        };
        return progressFile == null ? shown : shown.and(JsonLinesProgress.toFile(progressFile));
    }

    /**
     * Whether stderr, where the bar is drawn, is a terminal: {@code bin/distillery} says so (its filter makes
     * stderr a pipe); else whether the JVM has a console (java -jar, spark-submit).
     */
    static boolean terminal() {
        String said = System.getProperty("distillery.terminal");
        return said != null ? Boolean.parseBoolean(said) : System.console() != null;
    }

    @Option(names = "--tracking-uri", description = "MLflow tracking server (default: $MLFLOW_TRACKING_URI, then the"
            + " spec's tracking.uri; none: the local run store under <work-dir>/runs)",
            scope = CommandLine.ScopeType.INHERIT)
    String trackingUri;

    /** The tracking server: --tracking-uri, then MLFLOW_TRACKING_URI, then the spec's; null for local only. */
    String trackingUri(String fromSpec) {
        if (trackingUri != null) {
            return trackingUri.isBlank() ? null : trackingUri;
        }
        String env = System.getenv("MLFLOW_TRACKING_URI");
        if (env != null && !env.isBlank()) {
            return env;
        }
        return fromSpec;
    }

    Path runStore() {
        return workDir().resolve("runs");
    }

    static String version() {
        String v = Distillery.class.getPackage().getImplementationVersion();
        return v != null ? v : "dev";
    }

    /** The version from the jar's manifest. */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = Distillery.class.getPackage().getImplementationVersion();
            return new String[] {"distillery " + (v != null ? v : "dev"), "Java " + System.getProperty("java.version")};
        }
    }
}
