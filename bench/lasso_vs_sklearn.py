#!/usr/bin/python3
"""`sparseloop code` against scikit-learn's SparseCoder on the same linear LASSO, same sitting.

The case of issue 12 (docs/performance.md, "`sparseloop code`, linear LASSO"): 2 000 MNIST
test digits (pixels in [0, 1]) coded over 256 unit-norm atoms, λ 0.5, float64, one thread.
The atoms are Gaussian (seed 0) scaled to norm 1 (`--dictionary random`, the default), or the
first 256 training digits scaled to norm 1 (`--dictionary digits`: strongly correlated atoms,
a harder problem for every coordinate method):

    min_z ½‖x − Dz‖² + λ‖z‖₁ per digit.

scikit-learn's `SparseCoder(transform_algorithm="lasso_cd", transform_alpha=λ)` solves the
same problem (it divides α by the 784 features, and `Lasso` multiplies its data term by
1/(2·784): the two scalings cancel). Times: scikit-learn's `transform` (Gram, Dᵀx and the
solve) against the `solve_ms` that `sparseloop code --json` reports (Gram, Dᵀx, step size
and the solve; file reading and writing excluded), and the whole command's wall time for
reference. Objectives are recomputed here, in float64, from both codes.

Needs Debian's python3-sklearn (run with /usr/bin/python3) and the MNIST files that
`sparseloop data fetch --out DIR` writes (DIR/mnist/*-idx3-ubyte).

    /usr/bin/python3 bench/lasso_vs_sklearn.py --bin build/bin/sparseloop --mnist DIR/mnist
"""
import argparse
import json
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy loads its BLAS
os.environ.setdefault("OPENBLAS_NUM_THREADS", os.environ["OMP_NUM_THREADS"])
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
from sklearn.decomposition import SparseCoder  # noqa: E402


def read_idx_images(path):
    with open(path, "rb") as f:
        magic, n, rows, cols = struct.unpack(">IIII", f.read(16))
        assert magic == 2051, f"{path}: not an idx3 image file"
        return np.frombuffer(f.read(), dtype=np.uint8).reshape(n, rows * cols)


def write_safetensors(path, name, array):
    """One float64 tensor in the safetensors layout (8-byte header size, JSON, raw data)."""
    data = np.ascontiguousarray(array, dtype="<f8").tobytes()
    header = json.dumps({name: {"dtype": "F64", "shape": list(array.shape),
                                "data_offsets": [0, len(data)]}}).encode()
    header += b" " * (-len(header) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header + data)


def read_safetensors(path, name):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        body = f.read()
    t = header[name]
    assert t["dtype"] in ("F64", "F32"), t["dtype"]
    a, b = t["data_offsets"]
    dtype = "<f8" if t["dtype"] == "F64" else "<f4"
    return np.frombuffer(body[a:b], dtype=dtype).reshape(t["shape"]).astype(np.float64)


def objective(X, D, Z, lam):
    R = X - Z @ D
    return 0.5 * float(np.sum(R * R)) + lam * float(np.abs(Z).sum())


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bin", default="build/bin/sparseloop")
    p.add_argument("--mnist", required=True, help="folder with the idx files")
    p.add_argument("--samples", type=int, default=2000)
    p.add_argument("--atoms", type=int, default=256)
    p.add_argument("--lam", type=float, default=0.5)
    p.add_argument("--dictionary", choices=["random", "digits"], default="random")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--solver", default="cd", help="sparseloop's --solver (cd, fista, ista)")
    p.add_argument("--iterations", type=int, default=1000)
    p.add_argument("--tolerance", type=float, default=0.0)
    args = p.parse_args()

    X = read_idx_images(os.path.join(args.mnist, "t10k-images-idx3-ubyte"))[: args.samples] / 255.0
    if args.dictionary == "digits":
        D = read_idx_images(os.path.join(args.mnist, "train-images-idx3-ubyte"))[: args.atoms] / 255.0
    else:
        D = np.random.default_rng(0).standard_normal((args.atoms, X.shape[1]))
    D = D / np.linalg.norm(D, axis=1, keepdims=True)  # unit-norm atoms, (k, d)
    threads = os.environ["OMP_NUM_THREADS"]

    with tempfile.TemporaryDirectory() as tmp:
        dfile, xfile, zfile = (os.path.join(tmp, n) for n in ("D.safetensors", "X.safetensors",
                                                               "Z.safetensors"))
        # sparseloop's linear dictionary is W (k, d) with Dᵀx = Wx: the atoms are W's rows.
        write_safetensors(dfile, "weight", D)
        write_safetensors(xfile, "x", X)
        cmd = [args.bin, "code", "--dictionary", dfile, "--input", xfile, "--output", zfile,
               "--lambda", str(args.lam), "--solver", args.solver, "--iterations",
               str(args.iterations), "--tolerance", str(args.tolerance), "--threads", threads,
               "--json"]
        ours, ours_wall, report = [], [], None
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            ours_wall.append((time.perf_counter() - t0) * 1e3)
            report = json.loads(out)
            ours.append(report["solve_ms"])
        Z_ours = read_safetensors(zfile, "z")

    coder = SparseCoder(dictionary=D, transform_algorithm="lasso_cd", transform_alpha=args.lam)
    coder.transform(X[:10])  # warm-up (imports, first BLAS call)
    theirs = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        Z_sk = coder.transform(X)
        theirs.append((time.perf_counter() - t0) * 1e3)

    obj_ours, obj_sk = objective(X, D, Z_ours, args.lam), objective(X, D, Z_sk, args.lam)
    med_ours, med_sk = statistics.median(ours), statistics.median(theirs)
    result = {
        "case": "code-linear-lasso",
        "samples": args.samples, "atoms": args.atoms, "dim": X.shape[1], "lambda": args.lam,
        "dictionary": args.dictionary,
        "threads": int(threads), "repeats": args.repeats, "solver": args.solver,
        "sparseloop_solve_ms": med_ours, "sparseloop_wall_ms": statistics.median(ours_wall),
        "sklearn_ms": med_sk, "speedup_vs_sklearn": med_sk / med_ours,
        "sparseloop_iterations": report["iterations"],
        "sparseloop_mean_iterations": report["mean_iterations"],
        "sparseloop_kkt_violation": report["kkt_violation"],
        "objective_sparseloop": obj_ours, "objective_sklearn": obj_sk,
        "objective_rel_diff": (obj_ours - obj_sk) / abs(obj_sk),
        "sparsity": float(np.mean(Z_ours == 0)),
        "sklearn_version": __import__("sklearn").__version__,
    }
    print(json.dumps(result, indent=1))
    print(f"sparseloop {med_ours:.1f} ms, scikit-learn {med_sk:.1f} ms: "
          f"{med_sk / med_ours:.2f}x; objective difference {result['objective_rel_diff']:.2e} "
          f"(relative, negative: sparseloop lower)", file=sys.stderr)


if __name__ == "__main__":
    main()
