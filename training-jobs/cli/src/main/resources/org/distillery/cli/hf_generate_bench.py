"""Peer of `distillery bench generate`: greedy decoding with Hugging Face transformers (KV cache on).

Usage: hf_generate_bench.py HF_DIR PROMPTS.json CONFIG.json
Loads the export Distillery wrote of the very model it timed, decodes the same prompts greedily for the
same number of new tokens on the same thread count, and prints one JSON line of figures and the tokens.
"""
import json
import sys
import time

import torch
import transformers
from transformers import GPT2LMHeadModel


def main():
    model_dir, prompts_file, config_file = sys.argv[1], sys.argv[2], sys.argv[3]
    c = json.load(open(config_file))
    torch.set_num_threads(c["threads"])
    model = GPT2LMHeadModel.from_pretrained(model_dir, torch_dtype=torch.float32).eval()
    prompts = torch.tensor(json.load(open(prompts_file)), dtype=torch.long)
    new = c["new_tokens"]
    kwargs = dict(max_new_tokens=new, min_new_tokens=new, do_sample=False, use_cache=True,
                  attention_mask=torch.ones_like(prompts), pad_token_id=0, eos_token_id=None)
    with torch.inference_mode():
        for _ in range(c["warmup"]):
            model.generate(prompts, **kwargs)
        times = []
        for _ in range(c["repeat"]):
            t0 = time.perf_counter()
            out = model.generate(prompts, **kwargs)
            times.append(time.perf_counter() - t0)
    times.sort()
    seconds = times[len(times) // 2]
    print(json.dumps({
        "torch_version": torch.__version__,
        "transformers_version": transformers.__version__,
        "seconds": seconds,
        "tokens_per_s": prompts.shape[0] * new / seconds,
        "tokens": out[:, prompts.shape[1]:].tolist(),
    }))


if __name__ == "__main__":
    main()
