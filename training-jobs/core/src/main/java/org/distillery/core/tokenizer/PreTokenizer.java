package org.distillery.core.tokenizer;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * How a byte-level BPE tokenizer cuts text into pieces before merging within each: GPT-2's fixed pattern (a
 * hand-written scanner), or the {@code Split} regex a {@code tokenizer.json} names, as Llama 3 and Qwen2 ship theirs
 * (digits in groups of up to three, case-insensitive contractions, ...).
 */
public sealed interface PreTokenizer {
    /** GPT-2's pattern ({@link Gpt2PreTokenizer#PATTERN}). */
    PreTokenizer GPT2 = new Gpt2();

    /** Calls {@code out} for each piece of {@code text[from, to)}, in order; the pieces cover it exactly. */
    void split(CharSequence text, int from, int to, Gpt2PreTokenizer.PieceConsumer out);

    /** GPT-2's pieces, by {@link Gpt2PreTokenizer}. */
    final class Gpt2 implements PreTokenizer {
        private Gpt2() {
        }

        @Override
        public void split(CharSequence text, int from, int to, Gpt2PreTokenizer.PieceConsumer out) {
            Gpt2PreTokenizer.split(text, from, to, out);
        }
    }

    /**
     * Hugging Face's {@code Split} pre-tokenizer with behavior {@code Isolated}: every match of {@code regex} is a
     * piece, and so is any text between matches. The regex is read as Oniguruma reads it in {@code tokenizers}:
     * {@code \s}, {@code \w} and case-insensitivity are Unicode's.
     */
    record Regex(String regex, Pattern pattern) implements PreTokenizer {
        public static Regex of(String regex) {
            return new Regex(regex, Pattern.compile(regex, Pattern.UNICODE_CHARACTER_CLASS));
        }

        @Override
        public void split(CharSequence text, int from, int to, Gpt2PreTokenizer.PieceConsumer out) {
            Matcher m = pattern.matcher(text).region(from, to);
            int at = from;
            while (m.find()) {
                if (m.end() == m.start()) {
                    continue; // an empty match cuts nothing
                }
                if (m.start() > at) {
                    out.accept(at, m.start());
                }
                out.accept(m.start(), m.end());
                at = m.end();
            }
            if (at < to) {
                out.accept(at, to);
            }
        }
    }
}
