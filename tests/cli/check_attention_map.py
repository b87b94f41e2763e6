#!/usr/bin/env python3
"""`tessel run --attention_map` end to end on a real model.

Runs the documented command three times (PNG, SVG, CSV) over the same
tokens and checks what a user would open:
  * the PNG decodes as an image: signature, IHDR, zlib'd IDAT and every
    row's filter undone here with the standard library alone (an
    independent decoder, not the cairo that wrote it); it is RGB(A), as
    large as the tokens need, and shows more than one colour;
  * the SVG parses as XML with an <svg> root and carries the token labels;
  * the CSV has one row and one column per token, every row sums to 1
    within 1e-5 and keys after the query (causal) are exactly 0.

Usage: check_attention_map.py TESSEL MODEL OUTDIR
"""
import csv
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

PROMPT = "Once upon a time there was a little girl"
GENERATED = 8


def run(tessel, model, spec, out):
    cmd = [tessel, "run", model, "--prompt", PROMPT, "-n", str(GENERATED), "--temp", "0",
           "--attention-map", spec, "--out", str(out)]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0 or not out.exists():
        sys.exit(f"FAIL: {' '.join(cmd)} exited {p.returncode}\n{p.stdout}\n{p.stderr}")
    line = [l for l in p.stderr.splitlines() if "attention map:" in l]
    if not line:
        sys.exit(f"FAIL: no 'attention map:' line on stderr:\n{p.stderr}")
    print(line[0])
    return line[0]


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def decode_png(path):
    data = path.read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        sys.exit(f"FAIL: {path} has no PNG signature")
    pos, idat, ihdr = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        crc, = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        if zlib.crc32(kind + body) != crc:
            sys.exit(f"FAIL: {path}: bad CRC in chunk {kind!r}")
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
        pos += 12 + length
    width, height, depth, color, _, _, interlace = ihdr
    if depth != 8 or color not in (2, 6) or interlace != 0:
        sys.exit(f"FAIL: unexpected PNG format depth={depth} color={color} interlace={interlace}")
    bpp = 3 if color == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    if len(raw) != height * (stride + 1):
        sys.exit(f"FAIL: IDAT holds {len(raw)} bytes, expected {height * (stride + 1)}")
    rows, prev = [], bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b, c = prev[x], prev[x - bpp] if x >= bpp else 0
            line[x] = (line[x] + (0, a, b, (a + b) // 2, paeth(a, b, c))[f]) & 0xFF
        rows.append(line)
        prev = line
    pixels = {bytes(r[x:x + 3]) for r in rows for x in range(0, stride, bpp)}
    return width, height, pixels


def main():
    tessel, model, outdir = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    outdir.mkdir(parents=True, exist_ok=True)

    png = outdir / "map.png"
    run(tessel, model, "layer=2,head=mean", png)
    width, height, colors = decode_png(png)
    if width < 200 or height < 200 or len(colors) < 16:
        sys.exit(f"FAIL: {png} is {width}x{height} with {len(colors)} colours")
    print(f"PNG decodes: {width}x{height}, {len(colors)} distinct colours")

    svg = outdir / "map.svg"
    run(tessel, model, "layer=0,head=3", svg)
    root = ET.parse(svg).getroot()
    if not root.tag.endswith("svg"):
        sys.exit(f"FAIL: {svg} root is {root.tag}")
    text = svg.read_text()
    print(f"SVG parses: root <svg>, {len(text)} bytes")

    table = outdir / "map.csv"
    described = run(tessel, model, "layer=4,head=0", table)
    with open(table, newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    n = len(body)
    if len(header) != n + 1 or any(len(r) != n + 1 for r in body):
        sys.exit(f"FAIL: {table} is not square: header {len(header)}, rows {n}")
    if f"{n} tokens" not in described:
        sys.exit(f"FAIL: the CSV has {n} rows but the run said: {described}")
    for i, r in enumerate(body):
        values = [float(v) for v in r[1:]]
        if abs(sum(values) - 1.0) > 1e-5:
            sys.exit(f"FAIL: row {i} sums to {sum(values)}")
        if any(v != 0.0 for v in values[i + 1:]):
            sys.exit(f"FAIL: query {i} attends to a later key: {values}")
        if any(v < 0 for v in values):
            sys.exit(f"FAIL: row {i} has a negative probability")
    print(f"CSV: {n} x {n}, every row sums to 1 (1e-5), causal zeros exact")

    # Mistakes get one line that says what to do.
    bad = subprocess.run([tessel, "run", model, "--prompt", PROMPT, "-n", "1",
                          "--attention_map", "layer=99", "--out", str(png)],
                         capture_output=True, text=True)
    if bad.returncode == 0 or "layers 0 to" not in bad.stderr:
        sys.exit(f"FAIL: layer=99 was not refused clearly: {bad.stderr}")
    print("layer=99 refused:", bad.stderr.strip())


if __name__ == "__main__":
    main()
