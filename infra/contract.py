"""`python -m infra.contract [--check]`: write the repository's openapi.json from the code (`make openapi`), or
check that it is current."""

from __future__ import annotations

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPEC_FILE = os.path.join(ROOT, "openapi.json")


def generated() -> str:
    import app  # noqa: F401  (registers every blueprint, so every route is declared)
    from mini_program_api.routes import openapi

    return openapi.render()


def main(argv: list[str]) -> int:
    text = generated()
    if "--check" in argv:
        with open(SPEC_FILE, encoding="utf-8") as f:
            if f.read() != text:
                print("openapi.json is out of date: run `make openapi`", file=sys.stderr)
                return 1
        return 0
    with open(SPEC_FILE, "w", encoding="utf-8") as out:
        out.write(text)
    print(f"wrote {SPEC_FILE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
