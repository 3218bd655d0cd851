# SPDX-License-Identifier: MIT
"""An independent safetensors reader for test_checkpoint.cpp: parses a file per the spec
(https://github.com/huggingface/safetensors) with json and numpy only, checks it strictly, and
prints one tab-separated line per tensor, in name order:

    tensor <name> <dtype> <shape as [2,3]> <sum as float.hex()> <data offset aligned: 1|0>

then one line per metadata entry (`meta <key> <value>`). Exits 1 with a message on stderr when
the file breaks the spec."""
import json
import struct
import sys

import numpy as np

DTYPES = {"F32": "<f4", "F64": "<f8", "I64": "<i8", "BOOL": "|b1"}


def fail(msg):
    print("read_safetensors.py: " + msg, file=sys.stderr)
    sys.exit(1)


def main(path):
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        fail("shorter than 8 bytes")
    (n,) = struct.unpack("<Q", data[:8])
    if 8 + n > len(data):
        fail("header length past the end")
    raw = data[8:8 + n]
    if not raw.startswith(b"{"):
        fail("header does not start with '{'")
    if raw.rstrip(b" ") != raw.rstrip():
        fail("header padded with something other than spaces")

    def no_duplicates(pairs):
        keys = [k for k, _ in pairs]
        if len(keys) != len(set(keys)):
            fail("duplicate keys")
        return dict(pairs)

    header = json.loads(raw.decode("utf-8"), object_pairs_hook=no_duplicates)
    buf = data[8 + n:]
    meta = header.pop("__metadata__", {})
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
        fail("metadata is not str -> str")
    ranges = []
    lines = []
    for name in sorted(header):
        info = header[name]
        if set(info) != {"dtype", "shape", "data_offsets"}:
            fail("fields of " + name + ": " + str(sorted(info)))
        dtype = np.dtype(DTYPES[info["dtype"]])
        shape = info["shape"]
        begin, end = info["data_offsets"]
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if end - begin != count * dtype.itemsize or end > len(buf):
            fail("bad data_offsets for " + name)
        ranges.append((begin, end))
        arr = np.frombuffer(buf[begin:end], dtype=dtype).reshape(shape)
        total = float(arr.astype(np.float64).sum())
        lines.append("tensor\t%s\t%s\t[%s]\t%s\t%d" % (name, info["dtype"], ",".join(map(str, shape)),
                                                     total.hex(), int((8 + n) % 8 == 0)))
    pos = 0
    for begin, end in sorted(ranges):
        if begin != pos:
            fail("hole or overlap at byte %d" % begin)
        pos = end
    if pos != len(buf):
        fail("%d trailing bytes" % (len(buf) - pos))
    for line in lines:
        print(line)
    for key in sorted(meta):
        print("meta\t%s\t%s" % (key, meta[key]))


if __name__ == "__main__":
    main(sys.argv[1])
