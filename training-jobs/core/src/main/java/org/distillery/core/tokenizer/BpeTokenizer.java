package org.distillery.core.tokenizer;

import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.text.Normalizer;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A byte-level BPE tokenizer in GPT-2's scheme: text is split on special tokens, then into pieces
 * by its {@link PreTokenizer} (GPT-2's, or a {@code tokenizer.json}'s regex as Llama 3 and Qwen2 ship);
 * each piece's UTF-8 bytes start as one token per byte (so no text is ever unknown: every byte has a
 * token) and merges are applied lowest rank first, leftmost first, as Hugging Face {@code tokenizers}
 * does. Text is encoded as given, or NFC-normalized first when the tokenizer says so.
 *
 * <p>Immutable and thread-safe; encoded pieces are cached, as in {@code tokenizers}, because
 * natural text repeats its words.
 */
public final class BpeTokenizer {
    /** As many pieces as tokenizers' BPE caches (its DEFAULT_CACHE_CAPACITY); later pieces are encoded each time, as there. */
    public static final int CACHE_PIECES = 10_000;

    private final List<String> idToToken;
    private final Map<String, Integer> tokenToId;
    private final List<Merge> merges;
    private final List<String> specialTokens;
    private final int[] byteIds = new int[256];
    private final PairTable pairs;
    private final Map<String, int[]> cache = new ConcurrentHashMap<>();
    private final int cachePieces;

    /** One merge rule, in rank order: the tokens {@code left} and {@code right} become their concatenation. */
    public record Merge(String left, String right) {
    }

    /**
     * How text becomes pieces and pieces tokens, beyond the vocabulary and merges: the pre-tokenizer, whether the text
     * is NFC-normalized first (between special tokens), and whether a piece that is a token of its own skips the
     * merges ({@code tokenizers}' {@code ignore_merges}, which Llama 3 sets).
     */
    public record Options(PreTokenizer preTokenizer, boolean nfc, boolean ignoreMerges) {
        /** GPT-2's: its pre-tokenizer, no normalizer, merges always. */
        public static final Options GPT2 = new Options(PreTokenizer.GPT2, false, false);
    }

    private final Options options;

    /**
     * @param vocab         token (byte-level string or special token) → id; ids need not be dense
     * @param merges        merge rules, highest priority first
     * @param specialTokens tokens matched verbatim in the text before pre-tokenization; each must be in vocab
     */
    public BpeTokenizer(Map<String, Integer> vocab, List<Merge> merges, List<String> specialTokens) {
        this(vocab, merges, specialTokens, Options.GPT2, CACHE_PIECES);
    }

    /** As {@link #BpeTokenizer(Map, List, List)}, cutting and merging as {@code options} say. */
    public BpeTokenizer(Map<String, Integer> vocab, List<Merge> merges, List<String> specialTokens, Options options) {
        this(vocab, merges, specialTokens, options, CACHE_PIECES);
    }

    private BpeTokenizer(Map<String, Integer> vocab, List<Merge> merges, List<String> specialTokens, Options options,
                         int cachePieces) {
        this.options = options;
        this.cachePieces = cachePieces;
        int maxId = vocab.values().stream().mapToInt(Integer::intValue).max().orElse(-1);
        String[] tokens = new String[maxId + 1];
        vocab.forEach((t, id) -> {
            if (id < 0) {
                throw new IllegalArgumentException("negative id " + id + " for token '" + t + "'");
            }
            if (tokens[id] != null) {
                throw new IllegalArgumentException("id " + id + " given to both '" + tokens[id] + "' and '" + t + "'");
            }
            tokens[id] = t;
        });
        this.idToToken = Collections.unmodifiableList(Arrays.asList(tokens));
        this.tokenToId = Collections.unmodifiableMap(new HashMap<>(vocab));
        this.merges = List.copyOf(merges);
        this.specialTokens = List.copyOf(specialTokens);
        for (String s : specialTokens) {
            if (!vocab.containsKey(s)) {
                throw new IllegalArgumentException("special token '" + s + "' is not in the vocabulary");
            }
        }
        for (int b = 0; b < 256; b++) {
            Integer id = vocab.get(String.valueOf(ByteLevel.charOf(b)));
            if (id == null) {
                throw new IllegalArgumentException("the vocabulary has no token for byte 0x"
                        + Integer.toHexString(b) + " ('" + ByteLevel.charOf(b) + "'): not a byte-level BPE vocabulary");
            }
            byteIds[b] = id;
        }
        this.pairs = new PairTable(merges.size());
        for (int rank = 0; rank < merges.size(); rank++) {
            Merge m = merges.get(rank);
            Integer l = vocab.get(m.left());
            Integer r = vocab.get(m.right());
            Integer to = vocab.get(m.left() + m.right());
            if (l == null || r == null || to == null) {
                throw new IllegalArgumentException("merge " + rank + " ('" + m.left() + "' '" + m.right()
                        + "') uses or makes a token that is not in the vocabulary");
            }
            if (pairs.find(l, r) < 0) { // a repeated merge keeps its first (highest) rank
                pairs.put(l, r, rank, to);
            }
        }
    }

    /** The same tokenizer with a cache of {@code pieces} encoded pieces (0: none, as tiktoken), for benchmarks. */
    public BpeTokenizer withPieceCache(int pieces) {
        return new BpeTokenizer(tokenToId, merges, specialTokens, options, pieces);
    }

    public Options options() {
        return options;
    }

    public int vocabSize() {
        return idToToken.size();
    }

    public List<Merge> merges() {
        return merges;
    }

    public List<String> specialTokens() {
        return specialTokens;
    }

    /** The id of a token, or -1. */
    public int idOf(String token) {
        Integer id = tokenToId.get(token);
        return id == null ? -1 : id;
    }

    /** The token string of an id (byte-level characters, or a special token), or null for an unused id. */
    public String tokenOf(int id) {
        return id >= 0 && id < idToToken.size() ? idToToken.get(id) : null;
    }

    /** The vocabulary as token → id. */
    public Map<String, Integer> vocab() {
        return tokenToId;
    }

    /** Encodes {@code text} to token ids. */
    public int[] encode(String text) {
        IntList out = new IntList(Math.max(16, text.length() / 3));
        encodeTo(text, out);
        return out.toArray();
    }

    /** Appends the ids of {@code text} to {@code out}. */
    public void encodeTo(String text, IntList out) {
        int from = 0;
        while (from < text.length()) {
            int at = text.length();
            String special = null;
            for (String s : specialTokens) {
                int i = text.indexOf(s, from);
                if (i >= 0 && (i < at || (i == at && special != null && s.length() > special.length()))) {
                    at = i;
                    special = s;
                }
            }
            encodeOrdinary(text, from, at, out);
            if (special == null) {
                break;
            }
            out.add(tokenToId.get(special));
            from = at + special.length();
        }
    }

    private void encodeOrdinary(String original, int start, int end, IntList out) {
        if (start >= end) {
            return;
        }
        String text = original;
        int from = start;
        int to = end;
        if (options.nfc()) {
            String segment = original.substring(start, end);
            if (!Normalizer.isNormalized(segment, Normalizer.Form.NFC)) {
                text = Normalizer.normalize(segment, Normalizer.Form.NFC);
                from = 0;
                to = text.length();
            }
        }
        String normalized = text;
        options.preTokenizer().split(normalized, from, to, (s, e) -> {
            String piece = normalized.substring(s, e);
            int[] ids = cache.get(piece);
            if (ids == null) {
                ids = bpe(piece);
                if (cache.size() < cachePieces) {
                    cache.put(piece, ids);
                }
            }
            out.addAll(ids);
        });
    }

    /**
     * Applies the merges to one piece: lowest rank first, leftmost first among equal ranks; with ignore_merges, a piece
     * that is a token of its own is that token.
     */
    private int[] bpe(String piece) {
        if (options.ignoreMerges()) {
            Integer whole = tokenToId.get(ByteLevel.encode(piece));
            if (whole != null) {
                return new int[] {whole};
            }
        }
        byte[] bytes = piece.getBytes(StandardCharsets.UTF_8);
        int n = bytes.length;
        int[] sym = new int[n];
        for (int i = 0; i < n; i++) {
            sym[i] = byteIds[bytes[i] & 0xFF];
        }
        while (n > 1) {
            int bestRank = Integer.MAX_VALUE;
            int bestPos = -1;
            int bestTo = -1;
            for (int i = 0; i + 1 < n; i++) {
                int slot = pairs.find(sym[i], sym[i + 1]);
                if (slot >= 0) {
                    int rank = pairs.rankAt(slot);
                    if (rank < bestRank) {
                        bestRank = rank;
                        bestPos = i;
                        bestTo = pairs.mergedAt(slot);
                    }
                }
            }
            if (bestPos < 0) {
                break;
            }
            sym[bestPos] = bestTo;
            System.arraycopy(sym, bestPos + 2, sym, bestPos + 1, n - bestPos - 2);
            n--;
        }
        return n == sym.length ? sym : Arrays.copyOf(sym, n);
    }

    /** Decodes ids back to text; byte sequences that are not valid UTF-8 become U+FFFD, as in {@code tokenizers}. */
    public String decode(int[] ids) {
        StringBuilder visible = new StringBuilder();
        StringBuilder out = new StringBuilder();
        for (int id : ids) {
            String t = tokenOf(id);
            if (t == null) {
                throw new IllegalArgumentException("id " + id + " is not in the vocabulary (size " + vocabSize() + ")");
            }
            if (specialTokens.contains(t)) {
                out.append(utf8(ByteLevel.decode(visible)));
                visible.setLength(0);
                out.append(t);
            } else {
                visible.append(t);
            }
        }
        out.append(utf8(ByteLevel.decode(visible)));
        return out.toString();
    }

    private static String utf8(byte[] bytes) {
        CharsetDecoder d = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPLACE)
                .onUnmappableCharacter(CodingErrorAction.REPLACE);
        try {
            CharBuffer cb = d.decode(ByteBuffer.wrap(bytes));
            return cb.toString();
        } catch (java.nio.charset.CharacterCodingException e) {
            throw new IllegalStateException(e); // REPLACE never throws
        }
    }

    /** A growable int array, so encoding long texts does not box every id. */
    public static final class IntList {
        private int[] a;
        private int size;

        public IntList(int capacity) {
            a = new int[Math.max(1, capacity)];
        }

        public void add(int v) {
            if (size == a.length) {
                a = Arrays.copyOf(a, a.length * 2);
            }
            a[size++] = v;
        }

        public void addAll(int[] vs) {
            if (size + vs.length > a.length) {
                a = Arrays.copyOf(a, Math.max(a.length * 2, size + vs.length));
            }
            System.arraycopy(vs, 0, a, size, vs.length);
            size += vs.length;
        }

        public int size() {
            return size;
        }

        public int get(int i) {
            return a[i];
        }

        public void clear() {
            size = 0;
        }

        public int[] toArray() {
            return Arrays.copyOf(a, size);
        }

        /** The backing array, valid up to {@link #size()}: lets writers take the ids without a copy. */
        public int[] array() {
            return a;
        }
    }
}
