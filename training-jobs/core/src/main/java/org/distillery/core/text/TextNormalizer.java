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
        // Never longer than its input (runs collapse, CRLF shrinks): a char array, not a StringBuilder, whose
        // per-char append checks its capacity and its coder.
        char[] out = new char[s.length()];
        int n = 0;
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
                out[n++] = c;
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
            if (newlines > 0 && n > 0) {
                out[n++] = '\n';
                if (newlines > 1) {
                    out[n++] = '\n';
                }
            }
            newlines = 0;
            if (pendingSpace == 1) {
                out[n++] = ' ';
                pendingSpace = 0;
            }
            lineStart = false;
            out[n++] = c;
        }
        String result = new String(out, 0, n);
        return collapseWhitespace ? result : result.strip();
    }

    private static boolean isZeroWidth(char c) {
        return c == '\u200b' || c == '\ufeff' || c == '\u2060';
    }
}
