package org.distillery.core.text;

import java.util.ArrayList;
import java.util.List;

/**
 * Turns one file of the tagged Brown corpus ({@code The/at Fulton/np-tl County/nn-tl ...}) back
 * into running text: tags are stripped, quote marks ({@code `` ''}) become ", punctuation is
 * attached to its word, sentences (one per line) are joined and paragraphs (blank lines) kept.
 */
public final class BrownTaggedText {
    private BrownTaggedText() {
    }

    /**
     * The running text of one tagged file. Paragraphs and tokens are found by scanning, as the regular
     * expressions that first defined them would (paragraphs split at {@code \n\s*\n}, each trimmed and
     * split at {@code \s+}; a test holds the two equal), at several times their speed.
     */
    public static String toText(String tagged) {
        StringBuilder out = new StringBuilder(tagged.length() * 2 / 3);
        int n = tagged.length();
        int paragraphStart = 0;
        int i = 0;
        while (i <= n) {
            int paragraphEnd = n;
            int next = n + 1;
            if (i < n) {
                if (tagged.charAt(i) != '\n') {
                    i++;
                    continue;
                }
                // \n\s*\n, greedy: to the last \n of the whitespace that follows.
                int lastNewline = -1;
                for (int j = i + 1; j < n && isSpace(tagged.charAt(j)); j++) {
                    if (tagged.charAt(j) == '\n') {
                        lastNewline = j;
                    }
                }
                if (lastNewline < 0) {
                    i++;
                    continue;
                }
                paragraphEnd = i;
                next = lastNewline + 1;
            }
            paragraph(tagged, paragraphStart, paragraphEnd, out);
            paragraphStart = next;
            i = next;
        }
        return out.toString();
    }

    /** {@code \s} of {@link java.util.regex.Pattern}: [ \t\n\x0B\f\r]. */
    private static boolean isSpace(char c) {
        return c == ' ' || (c >= '\t' && c <= '\r');
    }

    private static void paragraph(String tagged, int from, int to, StringBuilder out) {
        while (from < to && tagged.charAt(from) <= ' ') { // String.trim()
            from++;
        }
        while (to > from && tagged.charAt(to - 1) <= ' ') {
            to--;
        }
        List<String> words = new ArrayList<>();
        int t = from;
        while (t < to) {
            int end = t;
            while (end < to && !isSpace(tagged.charAt(end))) {
                end++;
            }
            if (end > t) {
                String token = tagged.substring(t, end);
                int slash = token.lastIndexOf('/');
                words.add(slash > 0 ? token.substring(0, slash) : token);
            }
            t = end + 1;
        }
        appendParagraph(words, out);
    }

    /** One paragraph's words (tags stripped) as running text, after a blank line when text precedes it. */
    static void appendParagraph(List<String> words, StringBuilder out) {
        if (words.isEmpty()) {
            return;
        }
        if (!out.isEmpty()) {
            out.append("\n\n");
        }
        boolean glueNext = true;
        for (String w : words) {
            String token = w;
            boolean spaceBefore;
            boolean glueAfter = false;
            if (w.equals("``")) {
                token = "\"";
                spaceBefore = !glueNext;
                glueAfter = true;
            } else if (w.equals("''")) {
                token = "\"";
                spaceBefore = false;
            } else if (isClosing(w)) {
                spaceBefore = false;
            } else {
                spaceBefore = !glueNext;
                glueAfter = w.equals("(") || w.equals("[");
            }
            if (spaceBefore) {
                out.append(' ');
            }
            out.append(token);
            glueNext = glueAfter;
        }
    }

    private static boolean isClosing(String w) {
        return switch (w) {
            case ".", ",", ";", ":", "?", "!", ")", "]", "'", "'s", "n't" -> true;
            default -> false;
        };
    }
}
