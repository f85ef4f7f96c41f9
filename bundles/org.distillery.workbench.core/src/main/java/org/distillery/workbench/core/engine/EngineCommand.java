package org.distillery.workbench.core.engine;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * A command line of the engine, with the environment it adds and the folder it runs in.
 *
 * @param command     the program and its arguments
 * @param environment variables set on top of the workbench's own environment
 * @param directory   the working folder
 */
public record EngineCommand(List<String> command, Map<String, String> environment, Path directory) {
    public EngineCommand {
        command = List.copyOf(command);
        environment = Map.copyOf(environment);
    }

    /** The command as a shell would show it, for the console's first line. */
    public String display() {
        StringBuilder s = new StringBuilder();
        for (String a : command) {
            s.append(s.isEmpty() ? "" : " ").append(a.matches("[\\w./=:,\\[\\]*@+-]+") ? a : "'" + a.replace("'", "'\\''")
                    + "'");
        }
        return s.toString();
    }
}
