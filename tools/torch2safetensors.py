#!/usr/bin/env python3
"""Convert PyTorch checkpoints (torch.save files) to one safetensors file.

sparseloop is C++ and reads safetensors; LibTorch 1.13 cannot unpickle a
Python state_dict (an OrderedDict comes back as None), so weights saved by
the authors' PyTorch code come in through this converter, then
`sparseloop import` (docs/pytorch.md).

  tools/torch2safetensors.py model.pth -o model.safetensors
  tools/torch2safetensors.py ENC_best.pth:encoder DEC_best.pth:decoder -o vdl.safetensors

Each INPUT[:PREFIX] is a state_dict, or a dict holding one under
'state_dict', 'model' or 'net'; 'module.' (nn.DataParallel) is stripped from
names; PREFIX, when given, is put in front of every name ('encoder.').
Needs only torch and numpy (not the safetensors package): the format is an
8-byte little-endian header length, a JSON header, then the raw tensors.
"""
import argparse
import os
import json
import struct
import sys

import numpy as np
import torch

# torch dtype -> (safetensors dtype, numpy dtype to get the raw bytes through)
DTYPES = {
    torch.float32: ("F32", np.float32),
    torch.float64: ("F64", np.float64),
    torch.float16: ("F16", np.float16),
    torch.bfloat16: ("BF16", np.int16),  # numpy has no bfloat16: same 2 bytes, viewed as int16
    torch.int64: ("I64", np.int64),
    torch.int32: ("I32", np.int32),
    torch.int16: ("I16", np.int16),
    torch.int8: ("I8", np.int8),
    torch.uint8: ("U8", np.uint8),
    torch.bool: ("BOOL", np.bool_),
}


def state_dict_of(obj, path):
    if isinstance(obj, torch.nn.Module):
        return obj.state_dict()
    if isinstance(obj, dict):
        for key in ("state_dict", "model", "net"):
            if key in obj and isinstance(obj[key], dict):
                return obj[key]
        return obj
    sys.exit(f"{path}: not a state_dict (a {type(obj).__name__}); save module.state_dict()")


def raw_bytes(name, t):
    if t.dtype not in DTYPES:
        sys.exit(f"{name}: dtype {t.dtype} has no safetensors equivalent here")
    code, np_type = DTYPES[t.dtype]
    t = t.detach().cpu().contiguous()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    return code, t.numpy().astype(np_type, copy=False).tobytes()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("inputs", nargs="+", metavar="INPUT[:PREFIX]")
    parser.add_argument("-o", "--output", required=True, help="safetensors file to write")
    args = parser.parse_args()

    tensors = {}
    for spec in args.inputs:
        path, _, prefix = spec.partition(":")
        if prefix and not prefix.endswith("."):
            prefix += "."
        try:
            obj = torch.load(path, map_location="cpu")
        except Exception as e:  # noqa: BLE001 - one line naming the file is the point
            sys.exit(f"{path}: cannot load with torch.load ({e})")
        for name, value in state_dict_of(obj, path).items():
            if not torch.is_tensor(value):
                continue
            if name.startswith("module."):
                name = name[len("module."):]
            name = prefix + name
            if name in tensors:
                sys.exit(f"{path}: tensor {name} given twice (use INPUT:PREFIX)")
            tensors[name] = value

    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name]
        code, data = raw_bytes(name, t)
        header[name] = {"dtype": code, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    header["__metadata__"] = {"format": "pt", "converted_by": "sparseloop tools/torch2safetensors.py"}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)  # the tensors start 8-byte aligned
    tmp = args.output + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)

    os.replace(tmp, args.output)
    print(f"{args.output}: {len(tensors)} tensors")


if __name__ == "__main__":
    main()
