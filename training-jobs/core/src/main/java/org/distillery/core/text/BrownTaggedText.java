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

    public static String toText(String tagged) {
        StringBuilder out = new StringBuilder(tagged.length() * 2 / 3);
        for (String paragraph : tagged.split("\\n\\s*\\n")) {
            List<String> words = new ArrayList<>();
            for (String token : paragraph.trim().split("\\s+")) {
                if (token.isEmpty()) {
                    continue;
                }
                int slash = token.lastIndexOf('/');
                words.add(slash > 0 ? token.substring(0, slash) : token);
            }
            if (words.isEmpty()) {
                continue;
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
        return out.toString();
    }

    private static boolean isClosing(String w) {
        return switch (w) {
            case ".", ",", ";", ":", "?", "!", ")", "]", "'", "'s", "n't" -> true;
            default -> false;
        };
    }
}
