"""Create a merchant's first admin account (later ones are made through POST /v1/admin/staff).

    python -m infra.deploy.accounts MERCHANT_ID USERNAME     # asks for the password

Run with the deployed stack's table in the environment (KABAO_TABLE, AWS credentials).
"""

from __future__ import annotations

import getpass
import sys


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    from mini_program_api.platform.errors import KabaoError
    from mini_program_api.staff import accounts

    password = getpass.getpass("password for the new admin: ")
    try:
        accounts.create_account(None, argv[0], argv[1], password, "admin", None)
    except KabaoError as exc:
        print(f"{exc.code}: {exc.message}", file=sys.stderr)
        return 1
    print(f"admin {argv[1]} created for merchant {argv[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
