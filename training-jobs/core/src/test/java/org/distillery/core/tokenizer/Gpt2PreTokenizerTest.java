package org.distillery.core.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

class Gpt2PreTokenizerTest {
    /** GPT-2's pattern, with Unicode \s as the reference engines have it. */
    private static final Pattern REFERENCE = Pattern.compile(Gpt2PreTokenizer.PATTERN, Pattern.UNICODE_CHARACTER_CLASS);

    private static List<String> reference(String text) {
        List<String> out = new ArrayList<>();
        Matcher m = REFERENCE.matcher(text);
        while (m.find()) {
            out.add(m.group());
        }
        return out;
    }

    @Test
    void splitsLikeGpt2() {
        assertEquals(List.of("Hello", ",", " world", "!", " It", "'s", " 2024", "..."),
                Gpt2PreTokenizer.pieces("Hello, world! It's 2024..."));
        assertEquals(List.of("a", "  ", " b", "\n", "\n", "c", "   "), Gpt2PreTokenizer.pieces("a   b\n\nc   "));
        assertEquals(List.of("x", "\u00a0", "y"), Gpt2PreTokenizer.pieces("x\u00a0y"));
        assertEquals(List.of("we", "'ll", " '", "LL", " don", "'t"), Gpt2PreTokenizer.pieces("we'll 'LL don't"));
    }

    @Test
    void matchesTheRegexOnRandomText() {
        String alphabet = "aZé9٣ \t\n\u00a0\u3000'srevmld.,!?-_😀中\u0301\r";
        int[] cps = alphabet.codePoints().toArray();
        SplittableRandom rnd = new SplittableRandom(7);
        for (int trial = 0; trial < 20_000; trial++) {
            StringBuilder s = new StringBuilder();
            int len = rnd.nextInt(12);
            for (int i = 0; i < len; i++) {
                s.appendCodePoint(cps[rnd.nextInt(cps.length)]);
            }
            String text = s.toString();
            assertEquals(reference(text), Gpt2PreTokenizer.pieces(text), () -> "text: " + text.codePoints()
                    .mapToObj(c -> String.format("U+%04X", c)).toList());
        }
    }
}
