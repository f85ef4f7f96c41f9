"""Reads a GGUF export with the gguf package's own reader (llama.cpp's gguf-py) and prints it as JSON:
metadata (scalars, strings, arrays) and every tensor's name, ggml type, dims and values."""
import json
import sys

import numpy as np
from gguf import GGUFReader, GGUFValueType


def field_value(field):
    if not field.types:
        return None
    if field.types[0] == GGUFValueType.ARRAY:
        if field.types[-1] == GGUFValueType.STRING:
            return [bytes(field.parts[i]).decode("utf-8") for i in field.data]
        return [field.parts[i].tolist()[0] for i in field.data]
    if field.types[0] == GGUFValueType.STRING:
        return bytes(field.parts[field.data[0]]).decode("utf-8")
    return field.parts[field.data[0]].tolist()[0]


reader = GGUFReader(sys.argv[1])
metadata = {name: field_value(f) for name, f in reader.fields.items() if not name.startswith("GGUF.")}
tensors = []
for t in reader.tensors:
    tensors.append({"name": t.name, "type": t.tensor_type.name, "dims": [int(d) for d in t.shape],
                    "values": np.asarray(t.data, dtype=np.float32).reshape(-1).tolist()})
print(json.dumps({"metadata": metadata, "tensors": tensors}))
