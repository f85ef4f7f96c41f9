"""Builds a tokenizer of the Llama family with Hugging Face tokenizers, as those models ship theirs, trains it on
some texts, saves its tokenizer.json, and encodes texts with it, for parity tests. Usage: hf_family_tokenizer.py
REQUEST_JSON.

The request gives "kind": "llama3" (Llama 3's Split regex, digits in groups of up to three, ignore_merges, no
normalizer), "qwen2" (Qwen2's regex, single digits, an NFC normalizer) or "metaspace" (SentencePiece style with
byte fallback, as Llama 2 and Mistral); "train_texts", "texts" and "out" (where tokenizer.json goes).
Prints {"ids": [[...], ...], "decoded": [...]}.
"""
import json
import sys

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

LLAMA3 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"
          r"|\s+(?!\S)|\s+")
QWEN2 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"
         r"|\s+(?!\S)|\s+")

req = json.load(open(sys.argv[1], encoding="utf-8"))
kind = req["kind"]
special = AddedToken("<|endoftext|>", special=True, normalized=False)
if kind == "metaspace":
    tok = Tokenizer(models.BPE(byte_fallback=True, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<unk>", special])
else:
    tok = Tokenizer(models.BPE(ignore_merges=(kind == "llama3")))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3 if kind == "llama3" else QWEN2), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    if kind == "qwen2":
        tok.normalizer = normalizers.NFC()
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=800, special_tokens=[special],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
tok.train_from_iterator(req["train_texts"], trainer)
tok.save(req["out"])
encs = tok.encode_batch(req["texts"], add_special_tokens=False)
ids = [e.ids for e in encs]
decoded = [tok.decode(i, skip_special_tokens=False) for i in ids]
json.dump({"ids": ids, "decoded": decoded}, sys.stdout)
