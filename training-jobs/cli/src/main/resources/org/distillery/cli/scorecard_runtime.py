"""One export measured in the runtime serving teams run it in, for `distillery scorecard`.

  scorecard_runtime.py REQUEST.json

REQUEST: {"format": "gguf"|"onnx"|"hf", "path": file or folder, "windows": [[T+1 token ids], ...],
          "threads": N, "batches": [1, B], "prompt": P, "generate": G, "rounds": R, "eval_batch": E}

Held-out loss: every window's T next-token losses from the runtime's own logits (llama.cpp for GGUF, ONNX Runtime
for ONNX, transformers for the Hugging Face folder), summed in float64. Speed, for each batch size: B sequences of P
prompt tokens processed at once (prompt tokens/s), then G greedy tokens each generated one step at a time (generation
tokens/s), one untimed round first and R timed rounds after; the process's CPU seconds over the generation steps. The
ONNX export has no KV cache, so each of its generation steps runs the whole sequence again, as a serving team running
that file would. Peak memory is the process's peak resident set (ru_maxrss), with the resident set before the model
was loaded (the interpreter and the runtime's libraries, after which the high-water mark is reset) beside it.

Prints one JSON object on stdout.
"""
import json
import resource
import sys
import time

import numpy as np


def rss_now():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def reset_peak():
    """Linux resets the resident set's high-water mark on '5' into clear_refs: the peak is then this run's own."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def peak_rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def nll(logits, targets):
    """Sum of -log softmax(logits)[target] over rows, in float64."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    lse = np.log(np.exp(z).sum(axis=-1))
    return float((lse - z[np.arange(len(targets)), targets]).sum())


class LlamaCpp:
    """llama.cpp through llama-cpp-python's C API: one context holding B sequences, as llama-server batches them."""

    def __init__(self, path, threads, max_seqs, max_tokens):
        import llama_cpp
        from llama_cpp import _logger
        _logger.set_verbose(False)
        self.ll = llama_cpp
        llama_cpp.llama_backend_init()
        mp = llama_cpp.llama_model_default_params()
        self.model = llama_cpp.llama_model_load_from_file(path.encode(), mp)
        if not self.model:
            raise SystemExit("llama.cpp cannot load " + path)
        cp = llama_cpp.llama_context_default_params()
        cp.n_ctx = max_tokens
        cp.n_batch = max_tokens
        cp.n_ubatch = max_tokens
        cp.n_seq_max = max_seqs
        cp.kv_unified = True
        cp.n_threads = threads
        cp.n_threads_batch = threads
        self.ctx = llama_cpp.llama_init_from_model(self.model, cp)
        if not self.ctx:
            raise SystemExit("llama.cpp cannot make a context of %d tokens for %s" % (max_tokens, path))
        self.vocab = llama_cpp.llama_vocab_n_tokens(llama_cpp.llama_model_get_vocab(self.model))
        self.batch = llama_cpp.llama_batch_init(max_tokens, 0, max_seqs)
        self.name = "llama.cpp (llama-cpp-python %s)" % llama_cpp.__version__
        self.parameters = int(llama_cpp.llama_model_n_params(self.model))

    def clear(self):
        self.ll.llama_memory_clear(self.ll.llama_get_memory(self.ctx), True)

    def decode(self, rows, start, all_logits):
        """rows[s] are sequence s's next tokens from position start; logits of every token, or of each row's last."""
        b = self.batch
        n = 0
        for s, row in enumerate(rows):
            for i, tok in enumerate(row):
                b.token[n] = tok
                b.pos[n] = start + i
                b.n_seq_id[n] = 1
                b.seq_id[n][0] = s
                b.logits[n] = all_logits or i == len(row) - 1
                n += 1
        b.n_tokens = n
        rc = self.ll.llama_decode(self.ctx, b)
        if rc != 0:
            raise SystemExit("llama_decode returned %d" % rc)
        outputs = n if all_logits else len(rows)
        return np.ctypeslib.as_array(self.ll.llama_get_logits(self.ctx), shape=(outputs * self.vocab,)) \
            .reshape(outputs, self.vocab).copy()

    def window_logits(self, windows):
        out = []
        for w in windows:
            self.clear()
            out.append(self.decode([w], 0, True))
        return out

    def prefill(self, prompts):
        self.clear()
        return self.decode(prompts, 0, False)

    def step(self, tokens, pos, state):
        return self.decode([[t] for t in tokens], pos, False), state


class OnnxRuntime:
    def __init__(self, path, threads):
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        self.session = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        self.name = "onnxruntime " + ort.__version__
        self.parameters = None  # the graph's initializers hold tables (positions, masks) beside the weights

    def run(self, ids):
        return self.session.run(["logits"], {"input_ids": np.asarray(ids, dtype=np.int64)})[0]

    def window_logits(self, windows):
        return list(self.run(windows))

    def prefill(self, prompts):
        self.seqs = [list(p) for p in prompts]
        return self.run(self.seqs)[:, -1, :]

    def step(self, tokens, pos, state):
        for s, t in zip(self.seqs, tokens):
            s.append(t)
        return self.run(self.seqs)[:, -1, :], state


class Transformers:
    def __init__(self, path, threads):
        import torch
        import transformers
        torch.set_num_threads(threads)
        self.torch = torch
        self.model = transformers.AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
        self.model.eval()
        self.name = "transformers %s (torch %s)" % (transformers.__version__, torch.__version__)
        self.parameters = int(sum(p.numel() for p in self.model.parameters()))

    def window_logits(self, windows):
        with self.torch.no_grad():
            return list(self.model(self.torch.tensor(windows)).logits.float().numpy())

    def prefill(self, prompts):
        with self.torch.no_grad():
            out = self.model(self.torch.tensor(prompts), use_cache=True)
        self.cache = out.past_key_values
        return out.logits[:, -1, :].float().numpy()

    def step(self, tokens, pos, state):
        with self.torch.no_grad():
            out = self.model(self.torch.tensor([[t] for t in tokens]), past_key_values=self.cache, use_cache=True)
        self.cache = out.past_key_values
        return out.logits[:, -1, :].float().numpy(), state


def held_out(rt, windows, eval_batch):
    total = 0.0
    targets = 0
    for i in range(0, len(windows), eval_batch):
        chunk = windows[i:i + eval_batch]
        inputs = [w[:-1] for w in chunk]
        for w, logits in zip(chunk, rt.window_logits(inputs)):
            total += nll(logits, np.asarray(w[1:]))
            targets += len(w) - 1
    return total, targets


def speed(rt, windows, batch, prompt, generate, rounds):
    prompts = [windows[s % len(windows)][:prompt] for s in range(batch)]
    prefill_s = gen_s = gen_cpu = 0.0
    for r in range(rounds + 1):  # round 0 warms up
        t0 = time.perf_counter()
        logits = rt.prefill(prompts)
        t1 = time.perf_counter()
        c1 = time.process_time()
        state = None
        for k in range(generate):
            nxt = [int(i) for i in np.argmax(logits, axis=-1)]
            logits, state = rt.step(nxt, prompt + k, state)
        t2 = time.perf_counter()
        c2 = time.process_time()
        if r > 0:
            prefill_s += t1 - t0
            gen_s += t2 - t1
            gen_cpu += c2 - c1
    return {"batch": batch, "prompt_tokens": batch * prompt * rounds, "prompt_s": prefill_s,
            "prompt_tokens_per_s": batch * prompt * rounds / prefill_s,
            "generated_tokens": batch * generate * rounds, "generate_s": gen_s,
            "generate_tokens_per_s": batch * generate * rounds / gen_s, "generate_cpu_s": gen_cpu,
            "cpu_s_per_million_tokens": gen_cpu / (batch * generate * rounds) * 1e6}


def main(request_file):
    with open(request_file) as f:
        req = json.load(f)
    windows = req["windows"]
    threads = req["threads"]
    batches = req["batches"]
    fmt = req["format"]
    if fmt == "gguf":
        import llama_cpp
        llama_cpp.llama_backend_init()  # the backends' libraries belong to the baseline
        reset_peak()
        baseline = rss_now()
        longest = max(len(windows[0]), req["prompt"] + req["generate"])
        rt = LlamaCpp(req["path"], threads, max(batches), max(batches) * longest)
    elif fmt == "onnx":
        import onnxruntime  # noqa: F401 (the import's memory belongs to the baseline)
        reset_peak()
        baseline = rss_now()
        rt = OnnxRuntime(req["path"], threads)
    elif fmt == "hf":
        import torch  # noqa: F401
        import transformers  # noqa: F401
        reset_peak()
        baseline = rss_now()
        rt = Transformers(req["path"], threads)
    else:
        raise SystemExit("unknown format " + fmt)
    loaded = rss_now()
    total, targets = held_out(rt, windows, req["eval_batch"])
    speeds = [speed(rt, windows, b, req["prompt"], req["generate"], req["rounds"]) for b in batches]
    print(json.dumps({"runtime": rt.name, "parameters": rt.parameters, "loss_sum": total, "targets": targets,
                      "loss": total / targets, "windows": len(windows), "speeds": speeds, "threads": threads,
                      "baseline_rss_bytes": baseline, "loaded_rss_bytes": loaded, "peak_rss_bytes": peak_rss()}))


if __name__ == "__main__":
    main(sys.argv[1])
