"""The serving teams' readers, run on a Distillery export by `distillery exports check`.

  export_consumers.py hf DIR IDS     transformers: AutoModelForCausalLM + AutoTokenizer; logits for IDS, greedy tokens
  export_consumers.py onnx FILE IDS  the onnx checker (full) and onnxruntime; logits for IDS
  export_consumers.py gguf FILE      gguf-py's GGUFReader; metadata, tensor count, whether every value is finite

Each prints one JSON object on stdout; IDS is comma-separated token ids.
"""
import json
import sys


def ids_of(arg):
    return [int(x) for x in arg.split(",") if x]


def hf(model_dir, ids):
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model.eval()
    with torch.no_grad():
        x = torch.tensor([ids], dtype=torch.long)
        logits = model(x).logits[0].float().tolist()
        gen = model.generate(x, max_new_tokens=4, do_sample=False, attention_mask=torch.ones_like(x),
                             pad_token_id=model.config.eos_token_id)
    from safetensors import safe_open
    with safe_open(model_dir + "/model.safetensors", "pt") as f:
        metadata = f.metadata() or {}
    return {"reader": "transformers " + transformers.__version__, "class": type(model).__name__,
            "tokenizer": type(tok).__name__, "logits": logits, "greedy": gen[0].tolist()[len(ids):],
            "metadata": metadata}


def onnx_(path, ids):
    import numpy as np
    import onnx
    import onnxruntime as ort
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    logits = session.run(["logits"], {"input_ids": np.array([ids], dtype=np.int64)})[0]
    return {"reader": "onnxruntime " + ort.__version__ + ", onnx checker " + onnx.__version__,
            "opset": model.opset_import[0].version, "logits": logits[0].tolist(),
            "metadata": {p.key: p.value for p in model.metadata_props}}


def gguf_(path, ids):
    """gguf-py reads every tensor and key; llama.cpp itself (llama-cpp-python), when installed, runs the model."""
    import numpy as np
    from gguf import GGUFReader, GGUFValueType
    reader = GGUFReader(path)
    metadata = {}
    for name, f in reader.fields.items():
        if f.types and f.types[0] == GGUFValueType.STRING:
            metadata[name] = bytes(f.parts[f.data[0]]).decode("utf-8")
    finite = all(bool(np.isfinite(np.asarray(t.data, dtype=np.float32)).all()) for t in reader.tensors)
    types = sorted({t.tensor_type.name for t in reader.tensors})
    out = {"reader": "gguf-py GGUFReader", "tensors": len(reader.tensors), "all_finite": finite,
           "architecture": metadata.get("general.architecture"), "metadata": metadata, "tensor_types": types}
    try:
        import llama_cpp
    except ImportError:
        return out
    llm = llama_cpp.Llama(model_path=path, n_ctx=len(ids), logits_all=True, n_threads=2, verbose=False)
    llm.eval(ids)
    out["logits"] = np.array(llm.scores[:len(ids)], dtype=np.float64).tolist()
    out["reader"] = "llama.cpp (llama-cpp-python " + llama_cpp.__version__ + ") and gguf-py GGUFReader"
    return out


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "hf":
        out = hf(sys.argv[2], ids_of(sys.argv[3]))
    elif cmd == "onnx":
        out = onnx_(sys.argv[2], ids_of(sys.argv[3]))
    elif cmd == "gguf":
        out = gguf_(sys.argv[2], ids_of(sys.argv[3]))
    else:
        raise SystemExit("unknown command " + cmd)
    print(json.dumps(out))
