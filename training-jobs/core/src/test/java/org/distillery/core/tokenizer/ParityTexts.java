package org.distillery.core.tokenizer;

import java.util.List;

/** Text that exercises every branch of GPT-2 splitting and byte-level encoding. */
final class ParityTexts {
    private ParityTexts() {
    }

    static final List<String> TRICKY = List.of(
            "Hello, world! It's 2024... We'll see; they've done it, I'm sure, he'd say.",
            "  leading and trailing spaces   ",
            "tabs\tand\nnewlines\n\n\nand CRLF\r\nlines",
            "non-breaking\u00a0space, ideographic\u3000space, thin\u2009space, line\u2028separator",
            "naïve café résumé — “quotes” ‘single’ … €100 ¥5 £3",
            "combining: e\u0301 a\u0308 n\u0303; emoji: 😀👍🏽 👨‍👩‍👧 flags 🇺🇸",
            "中文字符 日本語のテキスト 한국어 텍스트 العربية עברית हिन्दी",
            "numbers 1234567890 ٣٤٥ ½ ² Ⅻ and symbols !@#$%^&*()_+-=[]{}|;':\",./<>?`~",
            "'s 't 're 've 'm 'll 'd 'S 'T 'RE contractions at the start",
            "URL https://example.com/path?query=1&x=y#frag and email a.b@c.org",
            "    indented code:\n        def f(x):\n            return x ** 2\n",
            "end of doc<|endoftext|>start of next<|endoftext|><|endoftext|>",
            "a" + "=".repeat(300) + "b",
            "",
            " ",
            "\n");
}
