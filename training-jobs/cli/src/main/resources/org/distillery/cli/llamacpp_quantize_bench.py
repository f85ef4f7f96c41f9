"""Peer of `distillery bench export`'s q8_0, q4_0 and q6_k cases: llama.cpp's own quantizer (llama_model_quantize, through
llama-cpp-python) on the f32 GGUF of the same model, with the same threads. Usage:
llamacpp_quantize_bench.py F32_GGUF OUT_GGUF FTYPE THREADS REPEAT. Prints {"best_s", "bytes", "llama_cpp"} as JSON."""
import ctypes
import json
import os
import sys
import time

import llama_cpp

FTYPES = {"q8_0": llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0, "q4_0": llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_0,
          "q6_k": llama_cpp.LLAMA_FTYPE_MOSTLY_Q6_K}
# llama.cpp's per-tensor log lines, silenced; the callback must outlive every call that may log
QUIET = llama_cpp.llama_log_callback(lambda level, text, data: None)


def main(f32, out, ftype, threads, repeat):
    llama_cpp.llama_log_set(QUIET, ctypes.c_void_p(0))
    best = float("inf")
    for _ in range(repeat):
        params = llama_cpp.llama_model_quantize_default_params()
        params.ftype = FTYPES[ftype]
        params.nthread = threads
        started = time.perf_counter()
        rc = llama_cpp.llama_model_quantize(f32.encode(), out.encode(), ctypes.byref(params))
        with open(out, "rb+") as f:  # as Distillery's exports are: on disk before the clock stops
            os.fsync(f.fileno())
        best = min(best, time.perf_counter() - started)
        if rc != 0:
            raise SystemExit(f"llama_model_quantize failed: {rc}")
    print(json.dumps({"best_s": best, "bytes": os.path.getsize(out), "llama_cpp": llama_cpp.__version__}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
