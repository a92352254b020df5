"""Run every benchmark in bench/ (each in its own process) and list where results went.

    python bench/run_all.py [NAME ...]     # default: all of them but the soak
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from benchlib import command_line

HERE = Path(__file__).resolve().parent
NOT_BENCHMARKS = {"benchlib.py", "run_all.py"}
# Run only when named: the soak takes 30 minutes.
LONG = {"soak"}


def benchmarks() -> list[Path]:
    return sorted(
        p for p in HERE.glob("*.py")
        if p.name not in NOT_BENCHMARKS and "support" not in p.stem
        and 'if __name__ == "__main__"' in p.read_text()
    )


def benchmark_name(name: str) -> str:
    known = sorted(p.stem for p in benchmarks())
    if name not in known:
        raise argparse.ArgumentTypeError(f"no benchmark {name!r} (one of: {', '.join(known)})")
    return name


def main() -> int:
    wanted = set(command_line(__doc__, lambda parser: parser.add_argument(
        "names", nargs="*", type=benchmark_name, metavar="NAME",
        help="benchmarks to run (a script's name without .py); default: all but "
             f"{', '.join(sorted(LONG))}")).names)
    chosen = [p for p in benchmarks() if p.stem in wanted or not wanted and p.stem not in LONG]
    failed = []
    for index, path in enumerate(chosen, 1):
        print(f"[{index}/{len(chosen)}] {path.stem} ...", flush=True)
        started = time.monotonic()
        proc = subprocess.run([sys.executable, str(path)], cwd=HERE.parent)
        took = time.monotonic() - started
        status = "ok" if proc.returncode == 0 else f"FAILED (exit {proc.returncode})"
        print(f"[{index}/{len(chosen)}] {path.stem}: {status} in {took:.0f}s", flush=True)
        if proc.returncode:
            failed.append(path.stem)
    print(f"results in {HERE / 'results'}; failed: {', '.join(failed) or 'none'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
