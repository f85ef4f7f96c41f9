"""Checks an ONNX export with the onnx package's checker (full check, shape inference included) and runs it
with onnxruntime; prints the logits for IDS and the model's metadata as JSON."""
import json
import sys

import numpy as np
import onnx
import onnxruntime as ort

path, ids = sys.argv[1], [int(x) for x in sys.argv[2].split(",")]
model = onnx.load(path)
onnx.checker.check_model(model, full_check=True)
session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
x = np.array([ids, list(reversed(ids))], dtype=np.int64)
logits = session.run(["logits"], {"input_ids": x})[0]
print(json.dumps({"opset": model.opset_import[0].version, "ir_version": model.ir_version,
                  "metadata": {p.key: p.value for p in model.metadata_props},
                  "shape": list(logits.shape), "logits": logits.tolist(), "ort": ort.__version__}))
