#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""An independent writer of TensorBoard event files, for tests/io/test_event_reader.cpp.

Builds events with Debian's python3-protobuf (tensorboard_subset.proto, compiled with protoc at
run time, as read_events.py does) and frames them as TFRecords with python3-crc32c, so the C++
reader is checked against protobuf's own encoder rather than tapeflow's. The values are fixed;
the test knows them.

usage: write_events.py OUT_FILE
"""
import os
import struct
import sys
import tempfile

import crc32c

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from read_events import compile_proto, masked_crc  # noqa: E402


def record(data):
    header = struct.pack("<Q", len(data))
    return header + struct.pack("<I", masked_crc(header)) + data + struct.pack("<I", masked_crc(data))


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    with tempfile.TemporaryDirectory() as tmp:
        pb = compile_proto(tmp)
        events = []

        e = pb.Event(wall_time=1700000000.25, step=0, file_version="brain.Event:2")
        events.append(e)

        e = pb.Event(wall_time=1700000001.5, step=-3)
        e.summary.value.add(tag="loss", simple_value=0.125)
        e.summary.value.add(tag="zero", simple_value=0.0)  # a oneof member: written though zero
        events.append(e)

        e = pb.Event(wall_time=1700000002.0, step=(1 << 62))
        v = e.summary.value.add(tag="w/\u00e9t\u00e9")
        h = v.histo
        h.min, h.max, h.num, h.sum, h.sum_squares = -1.0, 2.0, 3.0, 1.5, 5.25
        h.bucket_limit.extend([0.0, 1.0, 2.0])
        h.bucket.extend([1.0, 0.0, 2.0])
        events.append(e)

        e = pb.Event(wall_time=1700000003.0, step=7)
        v = e.summary.value.add(tag="note")
        v.metadata.plugin_data.plugin_name = "text"
        v.tensor.dtype = pb.DT_STRING
        v.tensor.tensor_shape.dim.add(size=1)
        v.tensor.string_val.append("h\u00e9llo\n**world**".encode("utf-8"))
        events.append(e)

        e = pb.Event(wall_time=1700000004.0, step=8)  # neither oneof member set
        events.append(e)

        with open(sys.argv[1], "wb") as f:
            for e in events:
                f.write(record(e.SerializeToString()))
    assert crc32c.crc32c(b"123456789") == 0xE3069283


if __name__ == "__main__":
    main()
