#!/usr/bin/env python3
"""Decodes TensorBoard event files with the protobuf library, checking every byte.

usage: tfevents_check.py DIR

Reads every events.out.tfevents.* file under DIR (recursively, in name order). For each
record it checks the TFRecord framing and both masked CRC-32Cs (of the length and of the
payload), parses the payload with the Event class that `protoc --python_out` generates from
tests/proto/tfevent.proto (compiled into a temporary directory), and checks that each file
starts with a file_version event. Prints {tag: [[step, value], ...]} as JSON on stdout, the
points in file and record order; non-finite values are written as "nan", "inf", "-inf".

Exit status: 0 when every file is good; 1 on a bad CRC, a truncated record, a payload that
does not parse, or no event file at all (one line on stderr says which file, record and
offset); 2 when protoc or the protobuf module is missing.
"""
import importlib
import json
import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile

PROTO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "proto", "tfevent.proto")
PREFIX = "events.out.tfevents."


def fail(msg, status=1):
    print(f"tfevents_check: {msg}", file=sys.stderr)
    sys.exit(status)


def crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


TABLE = crc32c_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def masked_crc(data):
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def load_event_class(tmp):
    """Compiles tfevent.proto with protoc into @tmp and returns its Event class."""
    if shutil.which("protoc") is None:
        fail("protoc not found (Debian: apt-get install protobuf-compiler)", 2)
    try:
        importlib.import_module("google.protobuf")
    except ImportError:
        fail(f"{sys.executable} has no protobuf module (Debian: apt-get install python3-protobuf)", 2)
    proto = os.path.normpath(PROTO)
    run = subprocess.run(
        ["protoc", f"--proto_path={os.path.dirname(proto)}", f"--python_out={tmp}", proto],
        capture_output=True, text=True)
    if run.returncode != 0:
        fail(f"protoc failed on {proto}: {run.stderr.strip()}", 2)
    sys.path.insert(0, tmp)
    return importlib.import_module("tfevent_pb2").Event


def records(path):
    """Yields (index, offset, payload) for each record of @path; fails on damage."""
    with open(path, "rb") as f:
        data = f.read()
    off, i = 0, 0
    while off < len(data):
        where = f"{path}: record {i} at offset {off}"
        if len(data) - off < 12:
            fail(f"{where}: truncated header ({len(data) - off} of 12 bytes)")
        (length,) = struct.unpack_from("<Q", data, off)
        (len_crc,) = struct.unpack_from("<I", data, off + 8)
        if len_crc != masked_crc(data[off:off + 8]):
            fail(f"{where}: length CRC mismatch (stored {len_crc:#010x}, "
                 f"computed {masked_crc(data[off:off + 8]):#010x})")
        if len(data) - off - 12 < length + 4:
            fail(f"{where}: truncated payload ({length} bytes announced)")
        payload = data[off + 12:off + 12 + length]
        (data_crc,) = struct.unpack_from("<I", data, off + 12 + length)
        if data_crc != masked_crc(payload):
            fail(f"{where}: payload CRC mismatch (stored {data_crc:#010x}, "
                 f"computed {masked_crc(payload):#010x})")
        yield i, off, payload
        off += 12 + length + 4
        i += 1


def number(v):
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return v


def read_file(path, event_class, out):
    from google.protobuf.message import DecodeError

    for i, off, payload in records(path):
        try:
            ev = event_class.FromString(payload)
        except DecodeError as e:
            fail(f"{path}: record {i} at offset {off}: payload does not parse as Event: {e}")
        if i == 0 and not ev.file_version.startswith("brain.Event:"):
            fail(f"{path}: record 0 is not a file_version event")
        for v in ev.summary.value:
            if v.WhichOneof("value") == "simple_value":
                out.setdefault(v.tag, []).append([ev.step, number(v.simple_value)])
    if not os.path.getsize(path):
        fail(f"{path}: empty file")


def event_files(root):
    found = []
    for d, _, names in os.walk(root):
        found += [os.path.join(d, n) for n in names if n.startswith(PREFIX)]
    return sorted(found)


def main(argv):
    if len(argv) != 2:
        fail("usage: tfevents_check.py DIR", 2)
    files = event_files(argv[1])
    if not files:
        fail(f"no {PREFIX}* files under {argv[1]}")
    out = {}
    with tempfile.TemporaryDirectory(prefix="tt-tfevents-") as tmp:
        event_class = load_event_class(tmp)
        for path in files:
            read_file(path, event_class, out)
    json.dump(out, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
