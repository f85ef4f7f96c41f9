"""Distillery's int8 ONNX export against ONNX Runtime's own dynamic quantization of Distillery's fp32 export.

  onnx_int8_compare.py FP32 INT8 THEIRS WINDOWS

Checks INT8 with the onnx checker (full), writes THEIRS with onnxruntime.quantization.quantize_dynamic(FP32) (its
defaults: int8 weights, one scale per tensor), and runs all three with onnxruntime on WINDOWS (a JSON file: lists
of token ids; each window's last token is only a target). Prints, per model, the mean next-token loss, the file
size, the largest |logit - fp32 logit| and the op types, as JSON.
"""
import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import quantize_dynamic


def run(path, windows):
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    x = np.array([w[:-1] for w in windows], dtype=np.int64)
    y = np.array([w[1:] for w in windows], dtype=np.int64)
    logits = session.run(["logits"], {"input_ids": x})[0].astype(np.float64)
    z = logits - logits.max(axis=-1, keepdims=True)
    lse = np.log(np.exp(z).sum(axis=-1))
    picked = np.take_along_axis(z, y[..., None], axis=-1)[..., 0]
    return logits, float((lse - picked).mean())


def main(fp32, int8, theirs, windows_file):
    with open(windows_file) as f:
        windows = json.load(f)
    model = onnx.load(int8)
    onnx.checker.check_model(model, full_check=True)
    quantize_dynamic(fp32, theirs)
    base, base_loss = run(fp32, windows)
    out = {"onnxruntime": ort.__version__, "fp32": {"loss": base_loss, "bytes": os.path.getsize(fp32)}}
    for name, path in (("ours", int8), ("theirs", theirs)):
        logits, loss = run(path, windows)
        out[name] = {"loss": loss, "bytes": os.path.getsize(path),
                     "max_abs_logit_diff": float(np.abs(logits - base).max()),
                     "ops": sorted({n.op_type for n in onnx.load(path).graph.node}),
                     "metadata": {p.key: p.value for p in onnx.load(path).metadata_props}}
    out["logit_range"] = float(np.abs(base).max())
    print(json.dumps(out))


if __name__ == "__main__":
    main(*sys.argv[1:5])
