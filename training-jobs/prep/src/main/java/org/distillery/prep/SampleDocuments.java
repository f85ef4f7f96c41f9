package org.distillery.prep;

import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import org.distillery.core.DistilleryException;
import org.distillery.core.spec.SourceFormat;
import org.distillery.core.text.BrownTaggedText;

/**
 * The first documents of a source, read on one machine without Spark, through the same per-record
 * parsers the prep job uses: what a researcher looks at before committing a cluster to a corpus.
 * Text files count as one document each (the prep job's default {@code unit: file}).
 */
public final class SampleDocuments {
    private SampleDocuments() {
    }

    /** Up to {@code count} documents from the files under {@code path}, in file order. */
    public static List<String> first(Path path, SourceFormat format, String textField, int count) {
        if (format == SourceFormat.PARQUET) {
            throw new DistilleryException(path + ": sampling Parquet needs Spark; run a prep with a small limit instead");
        }
        List<String> out = new ArrayList<>();
        for (Path f : SourceReader.listFiles(path, "sample")) {
            if (out.size() >= count) {
                break;
            }
            String file = f.toString();
            try {
                switch (format) {
                    case JSONL -> readJsonl(f, textField, count, out);
                    case BROWN_TAGGED -> out.add(BrownTaggedText.toText(Files.readString(f, StandardCharsets.UTF_8)));
                    case JSON_SENTENCES -> {
                        Iterator<String> it = SourceReader.sentences(file, Files.readString(f, StandardCharsets.UTF_8));
                        while (it.hasNext() && out.size() < count) {
                            out.add(it.next());
                        }
                    }
                    default -> out.add(Files.readString(f, StandardCharsets.UTF_8));
                }
            } catch (IOException e) {
                throw new DistilleryException(file + ": cannot read: " + e.getMessage(), e);
            }
        }
        return out.size() > count ? out.subList(0, count) : out;
    }

    private static void readJsonl(Path f, String field, int count, List<String> out) throws IOException {
        String file = f.toString();
        try (BufferedReader r = Files.newBufferedReader(f, StandardCharsets.UTF_8)) {
            String line;
            int n = 0;
            while (out.size() < count && (line = r.readLine()) != null) {
                n++;
                if (line.isBlank()) {
                    continue;
                }
                try {
                    out.add(SourceReader.textOf(line, field, file));
                } catch (SourceReader.BadRecordException e) {
                    throw new DistilleryException(file + ":" + n + ": " + e.getMessage().substring(file.length() + 2));
                }
            }
        }
    }
}
