package org.distillery.prep;

import java.util.concurrent.ConcurrentHashMap;
import org.distillery.core.tokenizer.BpeTokenizer;
import org.distillery.core.tokenizer.HfTokenizerJson;

/**
 * One parsed tokenizer per executor JVM: tasks receive the tokenizer.json text (broadcast) and
 * its hash, and parse it once rather than once per task. Sharing it also shares its piece cache.
 */
final class TokenizerCache {
    private static final ConcurrentHashMap<String, BpeTokenizer> BY_HASH = new ConcurrentHashMap<>();

    private TokenizerCache() {
    }

    static BpeTokenizer get(String sha256, String json) {
        return BY_HASH.computeIfAbsent(sha256, h -> HfTokenizerJson.parse(json, "tokenizer " + h));
    }
}
