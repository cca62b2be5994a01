"""Run every benchmark, each in a fresh interpreter (each starts its own local stack), and print its table."""
from __future__ import annotations

import subprocess
import sys

BENCHMARKS = ("cold_start", "coupon_drop", "calls", "heat", "console_size", "import")
ON_REQUEST = ("soak", "load")  # long: `make soak`, `make load`, or by name


def main() -> None:
    for name in sys.argv[1:] or BENCHMARKS:
        if name not in BENCHMARKS + ON_REQUEST:
            raise SystemExit(f"unknown benchmark {name}; choose from {', '.join(BENCHMARKS + ON_REQUEST)}")
        subprocess.run([sys.executable, "-m", f"bench.{name}"], check=True)


if __name__ == "__main__":
    main()
