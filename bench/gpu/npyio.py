"""Minimal .npy reading and writing with the Python standard library.

For the GPU scripts (gpu_check.sh, make_attention_mlir.py) that must run
without numpy: float32 ('<f4'), int64 ('<i8') and bool ('|b1') arrays in C
order, the types `tessel eval --inputs/--outputs` exchanges (support/Npy.h).
Arrays are (shape, flat list of values); numpy reads and writes the same files.
"""
import array
import ast
import math
import random
import struct
import sys

_CODES = {"<f4": "f", "<i8": "q", "|b1": "B"}


def read_npy(path):
    """(shape, array.array) of the .npy file at path; ValueError names the file."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:6] != b"\x93NUMPY" or len(data) < 10:
        raise ValueError(f"{path}: not a .npy file")
    major = data[6]
    if major == 1:
        (hlen,), start = struct.unpack_from("<H", data, 8), 10
    elif major in (2, 3):
        (hlen,), start = struct.unpack_from("<I", data, 8), 12
    else:
        raise ValueError(f"{path}: .npy version {major} is not supported")
    header = ast.literal_eval(data[start:start + hlen].decode("latin1"))
    descr, shape = header.get("descr"), tuple(header.get("shape", ()))
    if descr not in _CODES or header.get("fortran_order"):
        raise ValueError(f"{path}: field 'descr' {descr!r} or fortran_order is not supported")
    values = array.array(_CODES[descr])
    values.frombytes(data[start + hlen:])
    if sys.byteorder != "little":
        values.byteswap()
    if len(values) != math.prod(shape):
        raise ValueError(f"{path}: data does not match field 'shape' {shape}")
    return shape, values


def write_npy(path, shape, values, descr="<f4"):
    """Writes values (a flat sequence) of `shape` as descr ('<f4', '<i8', '|b1')."""
    values = array.array(_CODES[descr], values)
    if len(values) != math.prod(shape):
        raise ValueError(f"{path}: {len(values)} values for shape {tuple(shape)}")
    if sys.byteorder != "little":
        values.byteswap()
    shape_text = f"({shape[0]},)" if len(shape) == 1 else "(" + ", ".join(map(str, shape)) + ")"
    header = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_text}, }}"
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1"))
        f.write(values.tobytes())


def write_normal(path, shape, rng, scale=1.0):
    """A float32 array of normal(0, scale) values (random.Random rng)."""
    n = math.prod(shape)
    write_npy(path, shape, (rng.gauss(0.0, scale) for _ in range(n)))


def max_abs_diff(a, b):
    """max |a - b| over two equally long sequences; inf if one side is NaN or they differ in
    length (NaN on both sides counts as equal)."""
    if len(a) != len(b):
        return math.inf
    worst = 0.0
    for x, y in zip(a, b):
        if x == y:
            continue
        if math.isnan(x) or math.isnan(y):
            if not (math.isnan(x) and math.isnan(y)):
                return math.inf
            continue
        worst = max(worst, abs(x - y))
    return worst


def compare_dirs(got_dir, want_dir):
    """max |got - want| over every resultN.npy of want_dir (and the same file in got_dir)."""
    import os
    names = sorted(n for n in os.listdir(want_dir) if n.startswith("result") and n.endswith(".npy"))
    if not names:
        raise ValueError(f"{want_dir}: no resultN.npy files")
    worst = 0.0
    for n in names:
        gs, gv = read_npy(os.path.join(got_dir, n))
        ws, wv = read_npy(os.path.join(want_dir, n))
        if gs != ws:
            return math.inf
        worst = max(worst, max_abs_diff(gv, wv))
    return worst


if __name__ == "__main__":
    # npyio.py compare GOT_DIR WANT_DIR TOLERANCE: prints the max difference, exit 1 if over.
    if len(sys.argv) == 5 and sys.argv[1] == "compare":
        d = compare_dirs(sys.argv[2], sys.argv[3])
        tol = float(sys.argv[4])
        print(f"max |{sys.argv[2]} - {sys.argv[3]}| = {d:.3g} (tolerance {tol:g}): "
              f"{'ok' if d <= tol else 'FAIL'}")
        sys.exit(0 if d <= tol else 1)
    print("usage: npyio.py compare GOT_DIR WANT_DIR TOLERANCE", file=sys.stderr)
    sys.exit(2)
