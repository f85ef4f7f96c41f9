package org.distillery.core.testing;

import java.nio.file.Files;
import java.nio.file.Path;

/** Where tests find the checkout's own files (datasets/, samples) and the Python peers. */
public final class RepoFixtures {
    private RepoFixtures() {
    }

    /** The repository root: set by the build (distillery.repo.root), else found by walking up to mvnw. */
    public static Path root() {
        String prop = System.getProperty("distillery.repo.root");
        if (prop != null && Files.exists(Path.of(prop, "mvnw"))) {
            return Path.of(prop).toAbsolutePath();
        }
        Path p = Path.of("").toAbsolutePath();
        while (p != null && !Files.exists(p.resolve("mvnw"))) {
            p = p.getParent();
        }
        if (p == null) {
            throw new IllegalStateException("cannot find the repository root (no mvnw above " + Path.of("").toAbsolutePath() + ")");
        }
        return p;
    }

    public static Path datasets() {
        return root().resolve("datasets");
    }

    /**
     * The Python that has the peers installed (bin/setup-python makes .venv): DISTILLERY_PYTHON, else
     * the checkout's .venv. Tests that need it fail rather than skip when it is missing: bin/test sets it up.
     */
    public static String python() {
        String env = System.getenv("DISTILLERY_PYTHON");
        if (env != null && !env.isBlank()) {
            return env;
        }
        Path venv = root().resolve(".venv/bin/python");
        if (Files.isExecutable(venv)) {
            return venv.toString();
        }
        throw new IllegalStateException("no Python with the test peers: run bin/setup-python (bin/test does) or set"
                + " DISTILLERY_PYTHON");
    }
}
