"""Peers of `distillery bench tokenizer`: the same documents encoded by Hugging Face tokenizers (with the prep's
tokenizer.json) and by tiktoken (with GPT-2's vocabulary, built offline from encoder.json and vocab.bpe).

Each encoder runs WARMUP untimed passes, then REPEAT timed passes that only encode; the ids are hashed after
the clock stops, as on the Java side. tokenizers' threads come from RAYON_NUM_THREADS (set by the caller);
tiktoken runs --threads threads, one run of documents each. Prints one JSON object with seconds, tokens per pass and a SHA-256
of the ids for each.
"""
import argparse
import hashlib
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor

os.environ.setdefault("TIKTOKEN_CACHE_DIR", "")  # read the local files as they are, cache nothing

import tiktoken  # noqa: E402
from tiktoken.load import data_gym_to_mergeable_bpe_ranks  # noqa: E402
from tiktoken_ext.openai_public import ENDOFTEXT, r50k_pat_str  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402


def timed(encode_all, warmup, repeat):
    for _ in range(warmup):
        ids = encode_all()
    start = time.perf_counter()
    for _ in range(repeat):
        ids = encode_all()
    seconds = time.perf_counter() - start
    h = hashlib.sha256()
    tokens = 0
    for doc in ids:
        tokens += len(doc)
        h.update((" ".join(map(str, doc)) + "\n").encode())
    return {"seconds": seconds, "tokens_per_pass": tokens, "ids_sha256": h.hexdigest()}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--docs", required=True)
    p.add_argument("--tokenizer-json", required=True)
    p.add_argument("--gpt2-encoder", required=True)
    p.add_argument("--gpt2-vocab-bpe", required=True)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--repeat", type=int, default=5)
    a = p.parse_args()
    with open(a.docs, encoding="utf-8") as f:
        docs = json.load(f)

    hf = Tokenizer.from_file(a.tokenizer_json)

    def hf_all():
        # encode_batch_fast: ids without the offsets and token strings encode_batch also builds, which Distillery's
        # encoder does not make either (the fair peer for throughput).
        return [e.ids for e in hf.encode_batch_fast(docs, add_special_tokens=False)]

    gpt2 = tiktoken.Encoding(
        name="gpt2-offline",
        pat_str=r50k_pat_str,
        mergeable_ranks=data_gym_to_mergeable_bpe_ranks(vocab_bpe_file=a.gpt2_vocab_bpe,
                                                        encoder_json_file=a.gpt2_encoder),
        special_tokens={ENDOFTEXT: 50256},
        explicit_n_vocab=50257,
    )

    # One contiguous run of documents per thread, as on the Java side: tiktoken releases the GIL while it
    # encodes. (Its encode_ordinary_batch submits a future per document: about 6x slower here on 1 thread.)
    chunk = (len(docs) + a.threads - 1) // a.threads
    runs = [docs[i:i + chunk] for i in range(0, len(docs), chunk)]
    pool = ThreadPoolExecutor(a.threads)

    def tiktoken_all():
        if a.threads == 1:
            return [gpt2.encode_ordinary(d) for d in docs]
        parts = pool.map(lambda run: [gpt2.encode_ordinary(d) for d in run], runs)
        return [ids for part in parts for ids in part]

    print(json.dumps({"hf_tokenizers": timed(hf_all, a.warmup, a.repeat),
                      "tiktoken": timed(tiktoken_all, a.warmup, a.repeat)}))


if __name__ == "__main__":
    main()
