"""llama.cpp's own quantizer (llama_model_quantize, through llama-cpp-python) against Distillery's quantized GGUF.
Usage: gguf_quantize_compare.py F32_GGUF DISTILLERY_GGUF FTYPE OUT_GGUF   (FTYPE: q8_0, q4_0 or q6_k)

Quantizes F32_GGUF (Distillery's f32 export of the same checkpoint) with llama.cpp into OUT_GGUF, then reads both
quantized files with gguf-py and compares every tensor: types, and for tensors both wrote in the same type, the
bytes. Prints {"tensors": [{"name", "ours", "theirs", "same_type", "equal", "blocks", "mismatched_blocks"}], ...}.
"""
import ctypes
import json
import sys

import numpy as np
import llama_cpp
from gguf import GGUFReader

FTYPES = {"q8_0": llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0, "q4_0": llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_0,
          "q6_k": llama_cpp.LLAMA_FTYPE_MOSTLY_Q6_K}
BLOCK_BYTES = {"Q8_0": 34, "Q4_0": 18, "Q6_K": 210}


def main(f32, ours, ftype, out):
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = FTYPES[ftype]
    params.nthread = 2
    rc = llama_cpp.llama_model_quantize(f32.encode(), out.encode(), ctypes.byref(params))
    if rc != 0:
        raise SystemExit(f"llama_model_quantize failed: {rc}")
    mine = {t.name: t for t in GGUFReader(ours).tensors}
    theirs = {t.name: t for t in GGUFReader(out).tensors}
    rows = []
    for name, t in theirs.items():
        m = mine.get(name)
        row = {"name": name, "theirs": t.tensor_type.name, "ours": m.tensor_type.name if m is not None else None}
        row["same_type"] = m is not None and m.tensor_type == t.tensor_type
        if row["same_type"]:
            a = np.asarray(m.data).view(np.uint8).reshape(-1)
            b = np.asarray(t.data).view(np.uint8).reshape(-1)
            row["equal"] = bool(a.shape == b.shape and np.array_equal(a, b))
            size = BLOCK_BYTES.get(t.tensor_type.name)
            if size and a.shape == b.shape:
                diff = (a.reshape(-1, size) != b.reshape(-1, size)).any(axis=1)
                row["blocks"] = int(diff.shape[0])
                row["mismatched_blocks"] = int(diff.sum())
                if diff.any():
                    i = int(np.argmax(diff))
                    row["first_mismatch"] = {"block": i, "ours": a.reshape(-1, size)[i].tolist(),
                                             "theirs": b.reshape(-1, size)[i].tolist()}
        rows.append(row)
    print(json.dumps({"tensors": rows, "only_ours": sorted(set(mine) - set(theirs))}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4])
