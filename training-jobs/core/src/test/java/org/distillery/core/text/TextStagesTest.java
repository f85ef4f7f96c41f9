package org.distillery.core.text;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class TextStagesTest {
    @Test
    void normalizesUnicodeWhitespaceAndControlCharacters() {
        TextNormalizer n = new TextNormalizer(true, true, true);
        assertEquals("caf\u00e9 au lait", n.normalize("  cafe\u0301 \t au\u0000 lait\u200b  "));
        assertEquals("one\ntwo\n\nthree", n.normalize("one\r\ntwo\r\n\r\n\r\n\r\nthree\n\n"));
        assertEquals("", n.normalize(" \u0007\t\n "));
    }

    @Test
    void stripsBrownTagsBackToRunningText() {
        String tagged = "\n\n\tThe/at jury/nn said/vbd ``/`` no/at evidence/nn ''/'' was/bedz found/vbn ./.\n"
                + "\tIt/pps ended/vbd ,/, Atlanta's/np$ (/( he/pps said/vbd )/) ./.\n\n\n\tNew/jj paragraph/nn ./.\n";
        assertEquals("The jury said \"no evidence\" was found. It ended, Atlanta's (he said).\n\nNew paragraph.",
                BrownTaggedText.toText(tagged));
    }

    @Test
    void filtersMeasureWhatTheyAreNamedFor() {
        List<QualityFilter> rules = List.of(
                new QualityFilter("min_chars", QualityFilter.Bound.MIN, 10, QualityFilter.Measure.CHARS),
                new QualityFilter("min_alpha_ratio", QualityFilter.Bound.MIN, 0.5, QualityFilter.Measure.ALPHA_RATIO),
                new QualityFilter("max_repeated_line_fraction", QualityFilter.Bound.MAX, 0.3,
                        QualityFilter.Measure.REPEATED_LINE_FRACTION));
        assertEquals("min_chars", QualityFilter.firstRejecting(rules, "short"));
        assertEquals("min_alpha_ratio", QualityFilter.firstRejecting(rules, "1234 5678 90 !!"));
        assertEquals("max_repeated_line_fraction", QualityFilter.firstRejecting(rules, "a line\na line\na line\nb"));
        assertEquals(null, QualityFilter.firstRejecting(rules, "a perfectly ordinary sentence"));
    }

    @Test
    void minHashEstimatesJaccardAndBandsFindNearDuplicates() {
        MinHasher h = new MinHasher(3, 16, 8, 42);
        String a = "the quick brown fox jumps over the lazy dog while the cat sleeps on the warm mat by the door";
        String b = a + " today";
        String c = "an entirely different sentence about rivers mountains and the history of old towns in spring";
        int[] sa = h.signature(a);
        int[] sb = h.signature(b);
        assertTrue(MinHasher.similarity(sa, sb) > 0.8, "one extra word keeps most shingles");
        assertTrue(MinHasher.similarity(sa, h.signature(c)) < 0.1);
        long[] ka = h.bandKeys(sa);
        long[] kb = h.bandKeys(sb);
        boolean shared = false;
        for (int i = 0; i < ka.length; i++) {
            shared |= ka[i] == kb[i];
        }
        assertTrue(shared, "near duplicates share a band");
        assertFalse(java.util.Arrays.equals(sa, new MinHasher(3, 16, 8, 43).signature(a)), "seed matters");
        assertTrue(java.util.Arrays.equals(sa, new MinHasher(3, 16, 8, 42).signature(a)), "deterministic");
    }

    /**
     * The signatures' agreement is an unbiased estimate of the Jaccard similarity of the shingle sets, with
     * the binomial spread of 128 permutations: over pairs of every similarity, the mean error stays near 0
     * and each error within 4 standard deviations of sqrt(J(1-J)/128).
     */
    @Test
    void signatureAgreementEstimatesJaccardWithoutBias() {
        MinHasher h = new MinHasher(1, 16, 8, 11);
        java.util.SplittableRandom rnd = new java.util.SplittableRandom(5);
        double sumError = 0;
        int pairs = 0;
        for (int common = 0; common <= 200; common += 10) {
            for (int rep = 0; rep < 10; rep++) {
                // Two sets of distinct one-word shingles: `common` shared, the rest each its own.
                java.util.List<String> a = new java.util.ArrayList<>();
                java.util.List<String> b = new java.util.ArrayList<>();
                for (int i = 0; i < 200; i++) {
                    String w = "w" + rnd.nextLong(Long.MAX_VALUE);
                    a.add(w);
                    b.add(i < common ? w : "v" + rnd.nextLong(Long.MAX_VALUE));
                }
                double jaccard = common / (400.0 - common);
                double estimate = MinHasher.similarity(h.signature(String.join(" ", a)), h.signature(String.join(" ", b)));
                double sd = Math.sqrt(jaccard * (1 - jaccard) / 128);
                assertTrue(Math.abs(estimate - jaccard) <= 4 * sd + 1e-9,
                        "J=" + jaccard + " estimated " + estimate + " (sd " + sd + ")");
                sumError += estimate - jaccard;
                pairs++;
            }
        }
        assertTrue(Math.abs(sumError / pairs) < 0.01, "mean error " + sumError / pairs);
    }

    /** The SIMD lanes compute the permutations the scalar loop does, bit for bit, for any count of them. */
    @Test
    void laneMinimumsEqualTheScalarLoop() {
        assertTrue(MinHasher.LANES, "the tests run with --add-modules=jdk.incubator.vector");
        java.util.SplittableRandom rnd = new java.util.SplittableRandom(9);
        for (int perms : new int[] {1, 7, 16, 100, 128, 200}) {
            int[] seeds = rnd.ints(perms).toArray();
            for (int shingles : new int[] {1, 2, 50, 1000}) {
                int[] xs = rnd.ints(shingles).toArray();
                int[] lanes = new int[perms];
                int from = MinHashLanes.minimums(seeds, xs, lanes);
                MinHasher.minimums(seeds, from, xs, lanes);
                int[] scalar = new int[perms];
                MinHasher.minimums(seeds, 0, xs, scalar);
                assertArrayEquals(scalar, lanes, perms + " permutations, " + shingles + " shingles");
            }
        }
    }

    /** The shingle hashing without strings equals hashing each shingle's text as first written, on any text. */
    @Test
    void shingleHashesEqualHashingTheJoinedWords() {
        java.util.SplittableRandom rnd = new java.util.SplittableRandom(7);
        String alphabet = "aB c1\n\t.,;İıßéÆ٣Ⅻ²中文😀-_'\u0301\ud800x";
        for (int shingle = 1; shingle <= 4; shingle++) {
            MinHasher h = new MinHasher(shingle, 2, 2, 1);
            for (int doc = 0; doc < 2000; doc++) {
                StringBuilder t = new StringBuilder();
                int len = rnd.nextInt(60);
                for (int i = 0; i < len; i++) {
                    int at = rnd.nextInt(alphabet.length());
                    t.append(Character.isHighSurrogate(alphabet.charAt(at)) && at + 1 < alphabet.length()
                            && Character.isLowSurrogate(alphabet.charAt(at + 1)) && rnd.nextBoolean()
                            ? alphabet.substring(at, at + 2) : String.valueOf(alphabet.charAt(at)));
                }
                String text = t.toString();
                assertEquals(reference(text, shingle), h.shingleHashes(text), "shingles of '" + text + "'");
            }
        }
    }

    /** The shingles as they were first computed: a regex split, joined strings, each hashed. */
    private static java.util.List<Long> reference(String text, int n) {
        java.util.List<String> w = new java.util.ArrayList<>();
        for (String s : text.toLowerCase(java.util.Locale.ROOT).split("[^\\p{L}\\p{N}]+")) {
            if (!s.isEmpty()) {
                w.add(s);
            }
        }
        java.util.List<Long> out = new java.util.ArrayList<>();
        if (w.size() <= n) {
            out.add(MinHasher.hash(String.join(" ", w)));
            return out;
        }
        for (int i = 0; i + n <= w.size(); i++) {
            out.add(MinHasher.hash(String.join(" ", w.subList(i, i + n))));
        }
        return out;
    }

    /** The scanning Brown reader finds the paragraphs and words the regular expressions that first defined it found. */
    @Test
    void brownTextEqualsTheRegexSplit() {
        java.util.SplittableRandom rnd = new java.util.SplittableRandom(4);
        String[] pieces = {"The/at", "Fulton/np-tl", "``/``", "''/''", "./.", ",/,", "(/(", "n't/*", "a", "/x", "b/",
            " ", " ", "\n", "\n", "\t", "\r", "\u000b", "\f", "\u0001", "\u00a0", "é/nn"};
        for (int doc = 0; doc < 5000; doc++) {
            StringBuilder t = new StringBuilder();
            for (int i = rnd.nextInt(30); i > 0; i--) {
                t.append(pieces[rnd.nextInt(pieces.length)]);
            }
            String text = t.toString();
            assertEquals(brownReference(text), BrownTaggedText.toText(text), "'" + text + "'");
        }
    }

    /** BrownTaggedText.toText's paragraphs and words as first found, with String.split. */
    private static String brownReference(String tagged) {
        StringBuilder out = new StringBuilder();
        for (String paragraph : tagged.split("\\n\\s*\\n")) {
            java.util.List<String> words = new java.util.ArrayList<>();
            for (String token : paragraph.trim().split("\\s+")) {
                if (token.isEmpty()) {
                    continue;
                }
                int slash = token.lastIndexOf('/');
                words.add(slash > 0 ? token.substring(0, slash) : token);
            }
            BrownTaggedText.appendParagraph(words, out);
        }
        return out.toString();
    }

    /** Mean word length without a regex equals the regex split it replaced. */
    @Test
    void meanWordLengthEqualsTheRegexSplit() {
        java.util.SplittableRandom rnd = new java.util.SplittableRandom(3);
        String alphabet = "ab \t\n\u000b\f\r\u00a0\u2003é😀\ud800\udc00x";
        for (int doc = 0; doc < 5000; doc++) {
            StringBuilder t = new StringBuilder();
            for (int i = rnd.nextInt(40); i > 0; i--) {
                t.append(alphabet.charAt(rnd.nextInt(alphabet.length())));
            }
            String text = t.toString();
            long words = 0;
            long chars = 0;
            for (String w : text.split("\\s+")) {
                if (!w.isEmpty()) {
                    words++;
                    chars += w.codePointCount(0, w.length());
                }
            }
            double want = words == 0 ? 0 : (double) chars / words;
            assertEquals(want, QualityFilter.Measure.MEAN_WORD_LENGTH.applyAsDouble(text), "'" + text + "'");
        }
    }
}
