package org.distillery.core.text;

import java.io.Serializable;
import java.text.Normalizer;

/**
 * Puts raw text into one canonical form before filtering and deduplication, so that the same
 * words typed two ways count as one document: Unicode NFC; CRLF and CR become LF; control
 * characters other than LF and TAB, and zero-width marks, are removed; runs of spaces and tabs
 * become one space; lines are trimmed; more than one blank line becomes one; the text is trimmed.
 */
public final class TextNormalizer implements Serializable {
    private final boolean nfc;
    private final boolean collapseWhitespace;
    private final boolean stripControl;

    public TextNormalizer(boolean nfc, boolean collapseWhitespace, boolean stripControl) {
        this.nfc = nfc;
        this.collapseWhitespace = collapseWhitespace;
        this.stripControl = stripControl;
    }

    public String normalize(String text) {
        String s = nfc && !Normalizer.isNormalized(text, Normalizer.Form.NFC)
                ? Normalizer.normalize(text, Normalizer.Form.NFC) : text;
        StringBuilder out = new StringBuilder(s.length());
        int pendingSpace = 0; // 0 none, 1 a space is due before the next visible character
        int newlines = 0;
        boolean lineStart = true;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\r') {
                if (i + 1 < s.length() && s.charAt(i + 1) == '\n') {
                    continue;
                }
                c = '\n';
            }
            if (stripControl && c != '\n' && c != '\t' && (Character.isISOControl(c) || isZeroWidth(c))) {
                continue;
            }
            if (!collapseWhitespace) {
                out.append(c);
                continue;
            }
            if (c == '\n') {
                pendingSpace = 0;
                newlines++;
                lineStart = true;
                continue;
            }
            if (c == ' ' || c == '\t') {
                if (!lineStart) {
                    pendingSpace = 1;
                }
                continue;
            }
            if (newlines > 0 && out.length() > 0) {
                out.append(newlines == 1 ? "\n" : "\n\n");
            }
            newlines = 0;
            if (pendingSpace == 1) {
                out.append(' ');
                pendingSpace = 0;
            }
            lineStart = false;
            out.append(c);
        }
        return collapseWhitespace ? out.toString() : out.toString().strip();
    }

    private static boolean isZeroWidth(char c) {
        return c == '\u200b' || c == '\ufeff' || c == '\u2060';
    }
}
