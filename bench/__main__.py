"""Run every benchmark and print its table. Each starts its own processes or stack."""
from __future__ import annotations

import sys

from bench import calls, cold_start, coupon_drop


def main() -> None:
    only = set(sys.argv[1:]) or {"calls", "cold_start", "coupon_drop"}
    # cold_start first: it runs fresh interpreters and must not share this one's imports.
    if "cold_start" in only:
        cold_start.main()
    if "coupon_drop" in only:
        coupon_drop.main()
    if "calls" in only:
        calls.main()


if __name__ == "__main__":
    main()
