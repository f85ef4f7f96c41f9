"""Hugging Face side of the Llama-family parity tests: models transformers makes and runs itself.

  hf_llama.py random TYPE DIR IDS SHARD   saves a random TYPE (llama, qwen2, mistral) model made by transformers from
                                          a small grouped-query config, with a Llama-3-style tokenizer made by
                                          tokenizers, into DIR (sharded safetensors when SHARD is 1); prints its
                                          logits for IDS
  hf_llama.py grads DIR IDS TARGETS       loads DIR, prints the mean cross-entropy of predicting TARGETS after IDS
                                          and PyTorch autograd's gradient of every parameter, by name
  hf_llama.py configs REQUEST_JSON        for each [TYPE, DIR, {KEY: VALUE}] of the request, saves a random TYPE model
                                          with those config keys overridden (for the import errors), no tokenizer
"""
import json
import sys

import torch
from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM, MistralConfig, MistralForCausalLM, \
    Qwen2Config, Qwen2ForCausalLM

LLAMA3 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"
          r"|\s+(?!\S)|\s+")

FAMILIES = {"llama": (LlamaConfig, LlamaForCausalLM), "qwen2": (Qwen2Config, Qwen2ForCausalLM),
            "mistral": (MistralConfig, MistralForCausalLM)}


def ids_of(arg):
    return [int(x) for x in arg.split(",") if x]


def tokenizer(model_dir):
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    tok = Tokenizer(models.BPE(ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=[AddedToken("<|endoftext|>", special=True)],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(["the cat sat on the mat 12345", "a dog walked to the river", "her sister's station"] * 50,
                            trainer)
    tok.save(model_dir + "/tokenizer.json")
    return tok.get_vocab_size()


def small_config(kind, vocab, **overrides):
    config_class, _ = FAMILIES[kind]
    kw = dict(vocab_size=vocab, hidden_size=48, intermediate_size=72, num_hidden_layers=2, num_attention_heads=6,
              num_key_value_heads=2, max_position_embeddings=32, rms_norm_eps=1e-5, tie_word_embeddings=False,
              bos_token_id=0, eos_token_id=0, rope_parameters={"rope_type": "default", "rope_theta": 5000.0})
    if kind == "mistral":
        kw["sliding_window"] = None
    kw.update(overrides)
    return config_class(**kw)


def random_model(kind, model_dir, ids, shard):
    vocab = tokenizer(model_dir)
    torch.manual_seed(5)
    model = FAMILIES[kind][1](small_config(kind, vocab))
    with torch.no_grad():  # norms and biases away from their initial 1 and 0, so that a wrong mapping shows
        for name, p in model.named_parameters():
            if p.dim() == 1:
                p.add_(torch.randn_like(p) * 0.1)
    model.eval()
    model.save_pretrained(model_dir, max_shard_size="20KB" if shard else "5GB")
    with torch.no_grad():
        logits = model(torch.tensor([ids], dtype=torch.long)).logits[0].tolist()
    print(json.dumps({"logits": logits}))


def grads(model_dir, ids, targets):
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model.train()
    logits = model(torch.tensor([ids], dtype=torch.long)).logits[0]
    loss = torch.nn.functional.cross_entropy(logits, torch.tensor(targets, dtype=torch.long))
    loss.backward()
    out = {name: p.grad.flatten().tolist() for name, p in model.named_parameters()}
    print(json.dumps({"loss": loss.item(), "grads": out, "class": type(model).__name__}))


def config_models(request):
    for kind, model_dir, overrides in json.load(open(request, encoding="utf-8")):
        model = FAMILIES[kind][1](small_config(kind, 300))
        model.save_pretrained(model_dir)
        with open(model_dir + "/config.json", encoding="utf-8") as f:
            config = json.load(f)
        config.update(overrides)
        with open(model_dir + "/config.json", "w", encoding="utf-8") as f:
            json.dump(config, f, indent=2)
    print(json.dumps({"saved": True}))


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "random":
        random_model(sys.argv[2], sys.argv[3], ids_of(sys.argv[4]), sys.argv[5] == "1")
    elif cmd == "grads":
        grads(sys.argv[2], ids_of(sys.argv[3]), ids_of(sys.argv[4]))
    elif cmd == "configs":
        config_models(sys.argv[2])
    else:
        raise SystemExit("unknown command " + cmd)
