"""Peer for `distillery bench tokenizer`: encodes the same documents with Hugging Face tokenizers.

Usage: python hf_tokenizers_bench.py TOKENIZER_JSON DOCS_JSON REPEAT
Threads come from RAYON_NUM_THREADS, set by the caller to the same count the Java side uses.
Prints one JSON object: seconds for REPEAT passes, tokens per pass, and a hash of all ids.
"""
import hashlib
import json
import sys
import time

from tokenizers import Tokenizer


def main():
    tok_path, docs_path, repeat = sys.argv[1], sys.argv[2], int(sys.argv[3])
    tok = Tokenizer.from_file(tok_path)
    with open(docs_path, encoding="utf-8") as f:
        docs = json.load(f)
    for _ in range(2):  # warm-up, as on the Java side
        encs = tok.encode_batch(docs, add_special_tokens=False)
    start = time.perf_counter()
    for _ in range(repeat):
        encs = tok.encode_batch(docs, add_special_tokens=False)
    seconds = time.perf_counter() - start
    h = hashlib.sha256()
    tokens = 0
    for e in encs:
        tokens += len(e.ids)
        h.update((" ".join(map(str, e.ids)) + "\n").encode())
    print(json.dumps({"seconds": seconds, "tokens_per_pass": tokens, "ids_sha256": h.hexdigest()}))


if __name__ == "__main__":
    main()
