"""Runs a GGUF export in llama.cpp itself (through llama-cpp-python, which builds it from source) as a serving team
would: hf tokens in, logits out. Usage: llamacpp_run.py GGUF IDS NEW EOS

Prints {"logits": [[...] per position of IDS], "greedy": IDS followed by up to NEW greedy tokens (stopping after EOS,
-1 for none), "n_vocab", "arch"} as JSON.
"""
import json
import sys

import numpy as np
from llama_cpp import Llama


def main(path, ids, new, eos):
    llm = Llama(model_path=path, n_ctx=len(ids) + new, logits_all=True, n_threads=2, n_batch=64, verbose=False)
    llm.eval(ids)
    logits = np.array(llm.scores[:len(ids)], dtype=np.float64).tolist()
    out = list(ids)
    for _ in range(new):
        nxt = int(np.argmax(llm.scores[llm.n_tokens - 1]))
        out.append(nxt)
        if nxt == eos:
            break
        llm.eval([nxt])
    arch = llm.metadata.get("general.architecture")
    print(json.dumps({"logits": logits, "greedy": out, "n_vocab": llm.n_vocab(), "arch": arch}))


if __name__ == "__main__":
    main(sys.argv[1], [int(x) for x in sys.argv[2].split(",") if x], int(sys.argv[3]), int(sys.argv[4]))
