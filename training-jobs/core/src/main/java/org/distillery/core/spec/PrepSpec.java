package org.distillery.core.spec;

import java.util.List;
import java.util.Objects;

/**
 * The spec of {@code distillery prep}: where the text comes from, how it is cleaned, filtered and
 * deduplicated, which tokenizer encodes it, and how the shards are cut. Every field but
 * {@code name} and {@code sources} has a default; {@link #validate} is the one place that checks it.
 * Relative source paths are resolved against the spec file's folder.
 */
public record PrepSpec(
        String name,
        List<Source> sources,
        Normalize normalize,
        Filters filters,
        Dedup dedup,
        Tokenizer tokenizer,
        Split split,
        Shards shards,
        Spark spark) implements Spec {

    public static final String END_OF_TEXT = "<|endoftext|>";

    public PrepSpec {
        sources = sources == null ? List.of() : List.copyOf(sources);
        normalize = Objects.requireNonNullElseGet(normalize, () -> new Normalize(null, null, null));
        filters = Objects.requireNonNullElseGet(filters, () -> new Filters(null, null, null, null, null, null, null));
        dedup = Objects.requireNonNullElseGet(dedup, () -> new Dedup(null, null));
        tokenizer = Objects.requireNonNullElseGet(tokenizer, () -> new Tokenizer(null, null, null, null, null, null));
        split = Objects.requireNonNullElseGet(split, () -> new Split(null, null));
        shards = Objects.requireNonNullElseGet(shards, () -> new Shards(null, null));
        spark = Objects.requireNonNullElseGet(spark, () -> new Spark(null, null));
    }

    /** One corpus: a catalogued dataset by name, or files at a path (a file, a folder or a glob). */
    public record Source(String dataset, String path, SourceFormat format, String textField, DocUnit docUnit) {
        public Source {
            textField = Objects.requireNonNullElse(textField, "text");
            docUnit = Objects.requireNonNullElse(docUnit, DocUnit.FILE);
        }
    }

    public record Normalize(Boolean nfc, Boolean collapseWhitespace, Boolean stripControl) {
        public Normalize {
            nfc = Objects.requireNonNullElse(nfc, true);
            collapseWhitespace = Objects.requireNonNullElse(collapseWhitespace, true);
            stripControl = Objects.requireNonNullElse(stripControl, true);
        }
    }

    /** Quality thresholds; a null leaves that rule off. */
    public record Filters(Integer minChars, Integer maxChars, Integer minWords, Double minAlphaRatio,
                          Double maxRepeatedLineFraction, Double minMeanWordLength, Double maxMeanWordLength) {
        public Filters {
            minChars = Objects.requireNonNullElse(minChars, 20);
            maxChars = Objects.requireNonNullElse(maxChars, 1_000_000);
            minWords = Objects.requireNonNullElse(minWords, 3);
            minAlphaRatio = Objects.requireNonNullElse(minAlphaRatio, 0.6);
            maxRepeatedLineFraction = Objects.requireNonNullElse(maxRepeatedLineFraction, 0.3);
            minMeanWordLength = Objects.requireNonNullElse(minMeanWordLength, 2.0);
            maxMeanWordLength = Objects.requireNonNullElse(maxMeanWordLength, 12.0);
        }
    }

    public record Dedup(Boolean exact, NearDedup near) {
        public Dedup {
            exact = Objects.requireNonNullElse(exact, true);
            near = Objects.requireNonNullElseGet(near, () -> new NearDedup(null, null, null, null, null, null));
        }
    }

    /** MinHash LSH: bands × rows permutations; a candidate pair is a duplicate at or above the threshold. */
    public record NearDedup(Boolean enabled, Double jaccardThreshold, Integer shingleWords, Integer bands,
                            Integer rows, Long seed) {
        public NearDedup {
            enabled = Objects.requireNonNullElse(enabled, true);
            jaccardThreshold = Objects.requireNonNullElse(jaccardThreshold, 0.8);
            shingleWords = Objects.requireNonNullElse(shingleWords, 5);
            bands = Objects.requireNonNullElse(bands, 16);
            rows = Objects.requireNonNullElse(rows, 8);
            seed = Objects.requireNonNullElse(seed, 42L);
        }
    }

    /**
     * Train a byte-level BPE ({@code vocab_size}, {@code min_frequency}), or use an existing one:
     * {@code from} a tokenizer.json, or {@code gpt2_vocab} + {@code gpt2_merges} (vocab.json, merges.txt).
     */
    public record Tokenizer(Integer vocabSize, Long minFrequency, List<String> specialTokens, String from,
                            String gpt2Vocab, String gpt2Merges) {
        public Tokenizer {
            vocabSize = Objects.requireNonNullElse(vocabSize, 4096);
            minFrequency = Objects.requireNonNullElse(minFrequency, 2L);
            specialTokens = specialTokens == null ? List.of(END_OF_TEXT) : List.copyOf(specialTokens);
        }

        public boolean trains() {
            return from == null && gpt2Vocab == null;
        }
    }

    /** A document goes to validation when its content hash, salted, falls in the first val_fraction. */
    public record Split(Double valFraction, String salt) {
        public Split {
            valFraction = Objects.requireNonNullElse(valFraction, 0.05);
            salt = Objects.requireNonNullElse(salt, "");
        }
    }

    /** How many shards each split is cut into; fixed by the spec so any cluster writes the same bytes. */
    public record Shards(Integer train, Integer val) {
        public Shards {
            train = Objects.requireNonNullElse(train, 2);
            val = Objects.requireNonNullElse(val, 1);
        }
    }

    /**
     * Defaults for the Spark session. {@code master} may be unset (null): {@code --master} on the command
     * line, then the submitter's (spark-submit's) master win over it, and local[*] stands in when none is set.
     */
    public record Spark(String master, Integer partitions) {
        public Spark {
            partitions = Objects.requireNonNullElse(partitions, 8);
        }
    }

    @Override
    public void validate(Validation v) {
        v.require(name != null && name.matches("[A-Za-z0-9][A-Za-z0-9._-]*"), "name",
                "is required: letters, digits, '.', '_' or '-'");
        v.require(!sources.isEmpty(), "sources", "must list at least one source (a dataset or a path)");
        for (int i = 0; i < sources.size(); i++) {
            Source s = sources.get(i);
            String at = "sources[" + i + "]";
            if (s == null) {
                v.fail(at, "is empty: give 'dataset' or 'path'");
                continue;
            }
            v.require((s.dataset() == null) != (s.path() == null), at,
                    "needs exactly one of 'dataset' (a name under datasets/) or 'path' (files)");
            if (s.path() != null) {
                v.notNull(s.format(), at + ".format");
            }
            v.require(!s.textField().isBlank(), at + ".text_field", "must not be blank");
        }
        Filters f = filters;
        v.inRange(f.minChars(), 0, Integer.MAX_VALUE, "filters.min_chars");
        v.require(f.maxChars() >= f.minChars(), "filters.max_chars", "must be at least filters.min_chars ("
                + f.minChars() + "), found " + f.maxChars());
        v.inRange(f.minWords(), 0, Integer.MAX_VALUE, "filters.min_words");
        v.inRange(f.minAlphaRatio(), 0, 1, "filters.min_alpha_ratio");
        v.inRange(f.maxRepeatedLineFraction(), 0, 1, "filters.max_repeated_line_fraction");
        v.inRange(f.minMeanWordLength(), 0, 1000, "filters.min_mean_word_length");
        v.require(f.maxMeanWordLength() >= f.minMeanWordLength(), "filters.max_mean_word_length",
                "must be at least filters.min_mean_word_length");
        NearDedup n = dedup.near();
        v.inRange(n.jaccardThreshold(), 0.01, 1, "dedup.near.jaccard_threshold");
        v.inRange(n.shingleWords(), 1, 64, "dedup.near.shingle_words");
        v.inRange(n.bands(), 1, 512, "dedup.near.bands");
        v.inRange(n.rows(), 1, 64, "dedup.near.rows");
        int reserved = 256 + tokenizer.specialTokens().size();
        v.inRange(tokenizer.vocabSize(), reserved, 1 << 24, "tokenizer.vocab_size");
        v.inRange(tokenizer.minFrequency(), 1, Long.MAX_VALUE, "tokenizer.min_frequency");
        v.require(!tokenizer.specialTokens().isEmpty(), "tokenizer.special_tokens",
                "must hold the end-of-text token that ends each document (" + END_OF_TEXT + ")");
        v.require(tokenizer.from() == null || tokenizer.gpt2Vocab() == null, "tokenizer.from",
                "and tokenizer.gpt2_vocab are alternatives: give one");
        v.require((tokenizer.gpt2Vocab() == null) == (tokenizer.gpt2Merges() == null), "tokenizer.gpt2_merges",
                "must be given together with tokenizer.gpt2_vocab");
        v.inRange(split.valFraction(), 0.0001, 0.5, "split.val_fraction");
        v.inRange(shards.train(), 1, 100_000, "shards.train");
        v.inRange(shards.val(), 1, 100_000, "shards.val");
        v.inRange(spark.partitions(), 1, 1_000_000, "spark.partitions");
    }
}
