package org.distillery.core.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class BpeTrainerTest {
    private static Map<String, Long> wordCounts(String corpus) {
        Map<String, Long> counts = new HashMap<>();
        for (String piece : Gpt2PreTokenizer.pieces(corpus)) {
            counts.merge(ByteLevel.encode(piece), 1L, Long::sum);
        }
        return counts;
    }

    @Test
    void learnsTheMostFrequentPairsFirst() {
        BpeTrainer trainer = new BpeTrainer(256 + 1 + 3, 1, List.of("<|endoftext|>"));
        BpeTokenizer tok = trainer.train(wordCounts("low low low lower lowest newer newer"));
        assertEquals(3, tok.merges().size());
        assertEquals(0, tok.idOf("<|endoftext|>"));
        assertEquals(1 + 'a', tok.idOf("a"));
        // (l,o) and (o,w) both occur 5 times; the tie goes to the smaller left id, 'l'.
        assertEquals(new BpeTokenizer.Merge("l", "o"), tok.merges().get(0));
        assertEquals(new BpeTokenizer.Merge("lo", "w"), tok.merges().get(1));
        assertEquals(260, tok.vocabSize());
    }

    @Test
    void resultDoesNotDependOnInputOrderAndMatchesCountingPairsItself() {
        Map<String, Long> counts = wordCounts("the cat sat on the mat; the cat ate the rat. That hat!");
        Map<String, Long> reversed = new LinkedHashMap<>();
        counts.entrySet().stream().sorted(Map.Entry.<String, Long>comparingByKey().reversed())
                .forEach(e -> reversed.put(e.getKey(), e.getValue()));
        BpeTrainer trainer = new BpeTrainer(300, 2, List.of("<|endoftext|>"));
        BpeTokenizer a = trainer.train(counts);
        BpeTokenizer b = trainer.train(reversed);
        assertEquals(a.merges(), b.merges());

        Map<Long, Long> pairs = new HashMap<>();
        counts.forEach((w, c) -> {
            for (int i = 0; i + 1 < w.length(); i++) {
                pairs.merge(PairTable.key(trainer.byteId(ByteLevel.byteOf(w.charAt(i))),
                        trainer.byteId(ByteLevel.byteOf(w.charAt(i + 1)))), c, Long::sum);
            }
        });
        assertEquals(a.merges(), trainer.train(counts, pairs, (d, t) -> { }).merges());
    }

    @Test
    void encodesRoundTripAndStopsAtMinFrequency() {
        String corpus = "the quick brown fox jumps over the lazy dog. the end.";
        BpeTokenizer tok = new BpeTrainer(1000, 2, List.of("<|endoftext|>")).train(wordCounts(corpus));
        assertEquals(tok.merges().size() + 257, tok.vocabSize()); // min frequency 2 stops well before 1000
        String text = "the fox<|endoftext|>naïve 😀 text";
        int[] ids = tok.encode(text);
        assertEquals(text, tok.decode(ids));
        assertEquals(0, ids[tok.encode("the fox").length]);
        assertArrayEquals(tok.encode(" the"), new int[] {tok.idOf("Ġthe")});
    }

    @Test
    void rejectsAVocabularyTooSmallForTheBytes() {
        assertThrows(IllegalArgumentException.class, () -> new BpeTrainer(200, 1, List.of()));
    }
}
