"""Hugging Face side of the export parity tests: loads exports with transformers, as a serving team would.

  hf_gpt2.py run DIR IDS NEW TEXT   logits for IDS (comma-separated), greedy generation of NEW tokens,
                                    and the AutoTokenizer ids of TEXT, as JSON on stdout
  hf_gpt2.py narrow DIR32 DIR DTYPE compares DIR's 16-bit tensors bit for bit with DIR32's float32 ones
                                    converted by torch (.half() / .bfloat16())
  hf_gpt2.py random DIR IDS         saves a random GPT-2 made by transformers (and a BPE tokenizer made by
                                    tokenizers) into DIR, prints its logits for IDS
"""
import json
import sys

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, GPT2Config, GPT2LMHeadModel


def ids_of(arg):
    return [int(x) for x in arg.split(",") if x]


def run(model_dir, ids, new, text):
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model.eval()
    with torch.no_grad():
        x = torch.tensor([ids], dtype=torch.long)
        logits = model(x).logits[0].float().tolist()
        gen = model.generate(x, max_new_tokens=new, do_sample=False, attention_mask=torch.ones_like(x),
                             pad_token_id=model.config.eos_token_id)
    print(json.dumps({"logits": logits, "greedy": gen[0].tolist(), "encode": tok(text)["input_ids"],
                      "class": type(model).__name__, "tokenizer": type(tok).__name__}))


def narrow(dir32, model_dir, dtype):
    from safetensors import safe_open
    want_type = {"fp16": torch.float16, "bf16": torch.bfloat16}[dtype]
    mismatched = 0
    tensors = 0
    with safe_open(dir32 + "/model.safetensors", "pt") as a, safe_open(model_dir + "/model.safetensors", "pt") as b:
        for name in a.keys():
            want = a.get_tensor(name).to(want_type)
            got = b.get_tensor(name)
            if got.dtype != want_type:
                raise SystemExit(f"{name}: dtype {got.dtype}, expected {want_type}")
            mismatched += int((want.view(torch.int16) != got.view(torch.int16)).sum())
            tensors += 1
        metadata = b.metadata()
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    print(json.dumps({"tensors": tensors, "mismatched_values": mismatched, "metadata": metadata,
                      "loaded_dtype": str(next(model.parameters()).dtype)}))


def random_model(model_dir, ids):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(["the cat sat on the mat", "a dog walked to the river", "her sister found the station"] * 50,
                            trainer)
    tok.save(model_dir + "/tokenizer.json")
    torch.manual_seed(3)
    config = GPT2Config(vocab_size=tok.get_vocab_size(), n_positions=32, n_embd=48, n_layer=2, n_head=3,
                        bos_token_id=0, eos_token_id=0)
    model = GPT2LMHeadModel(config)
    model.eval()
    model.save_pretrained(model_dir)
    with torch.no_grad():
        logits = model(torch.tensor([ids], dtype=torch.long)).logits[0].tolist()
    print(json.dumps({"logits": logits}))


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "run":
        run(sys.argv[2], ids_of(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
    elif cmd == "narrow":
        narrow(sys.argv[2], sys.argv[3], sys.argv[4])
    elif cmd == "random":
        random_model(sys.argv[2], ids_of(sys.argv[3]))
    else:
        raise SystemExit("unknown command " + cmd)
