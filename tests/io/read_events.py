#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""An independent reader of TensorBoard event files, for tests/io/test_summary_writer.cpp.

Checks the TFRecord framing of every record (both masked CRC-32Cs, with Debian's python3-crc32c),
decodes every record as an Event with Debian's python3-protobuf (tensorboard_subset.proto,
compiled with protoc at run time) and prints one JSON object per event. Any problem (bad CRC,
truncated record, undecodable event, a field the .proto does not know) goes to stderr with exit
status 1.

usage: read_events.py EVENT_FILE
"""
import importlib
import json
import os
import struct
import subprocess
import sys
import tempfile

import crc32c


def fail(path, what):
    print(f"read_events: {path}: {what}", file=sys.stderr)
    sys.exit(1)


def masked_crc(data):
    crc = crc32c.crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def records(path):
    with open(path, "rb") as f:
        data = f.read()
    pos, index = 0, 0
    while pos < len(data):
        if len(data) - pos < 12:
            fail(path, f"record {index}: truncated header ({len(data) - pos} bytes)")
        header = data[pos:pos + 8]
        (length,) = struct.unpack("<Q", header)
        (length_crc,) = struct.unpack("<I", data[pos + 8:pos + 12])
        if length_crc != masked_crc(header):
            fail(path, f"record {index}: length CRC mismatch (stored {length_crc:#010x}, "
                       f"computed {masked_crc(header):#010x})")
        start = pos + 12
        if len(data) - start < length + 4:
            fail(path, f"record {index}: truncated data ({len(data) - start} of {length + 4} bytes)")
        body = data[start:start + length]
        (data_crc,) = struct.unpack("<I", data[start + length:start + length + 4])
        if data_crc != masked_crc(body):
            fail(path, f"record {index}: data CRC mismatch (stored {data_crc:#010x}, "
                       f"computed {masked_crc(body):#010x})")
        yield index, body
        pos = start + length + 4
        index += 1


def compile_proto(tmp):
    here = os.path.dirname(os.path.abspath(__file__))
    subprocess.run(["protoc", f"--proto_path={here}", f"--python_out={tmp}",
                    os.path.join(here, "tensorboard_subset.proto")], check=True)
    sys.path.insert(0, tmp)
    return importlib.import_module("tensorboard_subset_pb2")


def unknown_fields(message, where):
    """Fields the .proto does not know (a wrong field number or wire type lands here)."""
    found = [where] if len(message.UnknownFields()) else []
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        items = value if field.label == field.LABEL_REPEATED else [value]
        for i, item in enumerate(items):
            found += unknown_fields(item, f"{where}.{field.name}[{i}]")
    return found


def dump_value(v):
    out = {"tag": v.tag, "kind": v.WhichOneof("value")}
    if out["kind"] == "simple_value":
        out["simple_value"] = v.simple_value
    elif out["kind"] == "histo":
        h = v.histo
        out["histo"] = {"min": h.min, "max": h.max, "num": h.num, "sum": h.sum,
                        "sum_squares": h.sum_squares, "bucket_limit": list(h.bucket_limit),
                        "bucket": list(h.bucket)}
    elif out["kind"] == "tensor":
        t = v.tensor
        out["tensor"] = {"dtype": t.dtype, "shape": [d.size for d in t.tensor_shape.dim],
                         "string_val": [s.decode("utf-8") for s in t.string_val]}
    if v.HasField("metadata"):
        out["plugin_name"] = v.metadata.plugin_data.plugin_name
        out["plugin_content"] = v.metadata.plugin_data.content.hex()
    return out


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    path = sys.argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        pb = compile_proto(tmp)
        for index, body in records(path):
            event = pb.Event()
            try:
                event.ParseFromString(body)
            except Exception as e:  # the decoder's own exception types differ between versions
                fail(path, f"record {index}: not an Event: {e}")
            unknown = unknown_fields(event, "Event")
            if unknown:
                fail(path, f"record {index}: unknown fields in {', '.join(unknown)}")
            out = {"record": index, "wall_time": event.wall_time, "step": event.step,
                   "what": event.WhichOneof("what"),
                   # protobuf writes fields in number order and leaves out proto3 defaults: equal
                   # bytes mean tapeflow's encoding is the canonical one.
                   "canonical": event.SerializeToString() == body}
            if out["what"] == "file_version":
                out["file_version"] = event.file_version
            elif out["what"] == "summary":
                out["values"] = [dump_value(v) for v in event.summary.value]
            print(json.dumps(out))


if __name__ == "__main__":
    main()
