package org.distillery.core.text;

import java.io.Serializable;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.function.ToDoubleFunction;

/**
 * One document-quality rule with its threshold, in the spirit of the Gopher and C4 rules: a
 * document is removed when the measured value is outside the bound. Rules run in a fixed order
 * and a removed document is counted against the first rule that removed it.
 */
public record QualityFilter(String name, Bound bound, double threshold, Measure measure) implements Serializable {

    public enum Bound { MIN, MAX }

    /** What a filter measures on a document. */
    public enum Measure implements ToDoubleFunction<String> {
        CHARS {
            @Override
            public double applyAsDouble(String text) {
                return text.codePointCount(0, text.length());
            }
        },
        WORDS {
            @Override
            public double applyAsDouble(String text) {
                return countWords(text);
            }
        },
        /** Letters among the characters that are not whitespace. */
        ALPHA_RATIO {
            @Override
            public double applyAsDouble(String text) {
                long letters = 0;
                long visible = 0;
                for (int i = 0; i < text.length(); ) {
                    int cp = text.codePointAt(i);
                    i += Character.charCount(cp);
                    if (!Character.isWhitespace(cp)) {
                        visible++;
                        if (Character.isLetter(cp)) {
                            letters++;
                        }
                    }
                }
                return visible == 0 ? 0 : (double) letters / visible;
            }
        },
        /** Fraction of non-empty lines that repeat an earlier line of the same document. */
        REPEATED_LINE_FRACTION {
            @Override
            public double applyAsDouble(String text) {
                Set<String> seen = new HashSet<>();
                long lines = 0;
                long repeated = 0;
                for (String line : text.split("\n")) {
                    String t = line.strip();
                    if (t.isEmpty()) {
                        continue;
                    }
                    lines++;
                    if (!seen.add(t)) {
                        repeated++;
                    }
                }
                return lines == 0 ? 0 : (double) repeated / lines;
            }
        },
        /** Code points per word, words being runs between ASCII whitespace (regex {@code \s}). */
        MEAN_WORD_LENGTH {
            @Override
            public double applyAsDouble(String text) {
                long words = 0;
                long chars = 0;
                boolean in = false;
                for (int i = 0; i < text.length(); i++) {
                    char c = text.charAt(i);
                    boolean ws = c == ' ' || c == '\t' || c == '\n' || c == 0x0B || c == '\f' || c == '\r';
                    if (!ws) {
                        if (!in) {
                            words++;
                        }
                        if (!Character.isLowSurrogate(c) || i == 0 || !Character.isHighSurrogate(text.charAt(i - 1))) {
                            chars++;
                        }
                    }
                    in = !ws;
                }
                return words == 0 ? 0 : (double) chars / words;
            }
        };

        static long countWords(String text) {
            long n = 0;
            boolean in = false;
            for (int i = 0; i < text.length(); i++) {
                boolean ws = Character.isWhitespace(text.charAt(i));
                if (!ws && !in) {
                    n++;
                }
                in = !ws;
            }
            return n;
        }
    }

    /** True if the document passes this rule. */
    public boolean accepts(String text) {
        double v = measure.applyAsDouble(text);
        return bound == Bound.MIN ? v >= threshold : v <= threshold;
    }

    /**
     * The name of the first rule in {@code rules} that rejects {@code text}, or null if all accept it. Each
     * measure is taken once, however many rules bound it (min and max word length, say).
     */
    public static String firstRejecting(List<QualityFilter> rules, String text) {
        double[] measured = new double[Measure.values().length];
        boolean[] done = new boolean[measured.length];
        for (QualityFilter f : rules) {
            int m = f.measure.ordinal();
            if (!done[m]) {
                measured[m] = f.measure.applyAsDouble(text);
                done[m] = true;
            }
            double v = measured[m];
            if (!(f.bound == Bound.MIN ? v >= f.threshold : v <= f.threshold)) {
                return f.name();
            }
        }
        return null;
    }
}
