"""Encodes texts with Hugging Face tokenizers, for parity tests. Usage: hf_encode.py REQUEST_JSON.

The request names a tokenizer.json ("tokenizer_json"), or GPT-2's files ("vocab" and "merges", set up
as GPT-2's fast tokenizer is: byte-level pre-tokenizer and decoder, <|endoftext|> special), and "texts".
Prints {"ids": [[...], ...], "decoded": [...]}.
"""
import json
import sys

from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

req = json.load(open(sys.argv[1], encoding="utf-8"))
if "tokenizer_json" in req:
    tok = Tokenizer.from_file(req["tokenizer_json"])
else:
    tok = Tokenizer(models.BPE.from_file(req["vocab"], req["merges"]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken("<|endoftext|>", special=True, normalized=False)])
encs = tok.encode_batch(req["texts"], add_special_tokens=False)
ids = [e.ids for e in encs]
decoded = [tok.decode(i, skip_special_tokens=False) for i in ids]
json.dump({"ids": ids, "decoded": decoded}, sys.stdout)
