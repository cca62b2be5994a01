"""Onboard a merchant: create it, configure its WeChat Pay from the files WeChat Pay gave it, create its first admin.

    python -m infra.deploy.onboard --merchant-id acme --name "Acme Coffee" --appid wx0123456789abcdef \\
        --app-secret-file app_secret.txt --secrets ssm \\
        --mchid 1900000001 --pay-dir ./wechatpay --public-key-id PUB_KEY_ID_0123... \\
        --admin boss                       # the password: $KABAO_ADMIN_PASSWORD, or asked for

`--pay-dir` holds WeChat Pay's files under their usual names: `apiclient_key.pem` (the API private
key), `apiclient_cert.pem` (its certificate: the serial number is read from it, and it must match the
key), `apiv3_key.txt` (the 32-character APIv3 key) and, with `--public-key-id`, `pub_key.pem` (the
WeChat Pay public key; without it, platform certificates are fetched from WeChat Pay).

Secrets are stored by reference, never printed: `--secrets ssm` writes each to an SSM SecureString
parameter `/kabao/{stage}/merchants/{merchant_id}/{name}` (never overwriting one that holds another
value) and records `ssm:` references; `--secrets dev` (local and test stages only) records `dev:`
references for the local stack. `--app-secret-ref` takes an existing reference instead of a file: it
must name a parameter under the merchant's own path too (nothing is written otherwise).

Idempotent: a second run with the same values changes nothing and says so; a run whose values differ
from what is stored names every difference (never a secret's value), changes nothing and exits 1.
Run it with the stack's environment: KABAO_STAGE, KABAO_TABLE, AWS credentials and region (or
DYNAMODB_ENDPOINT for the local stack).
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cryptography import x509
from cryptography.hazmat.primitives import serialization

PAY_FILES = {
    "private_key": "apiclient_key.pem",
    "cert": "apiclient_cert.pem",
    "apiv3_key": "apiv3_key.txt",
    "public_key": "pub_key.pem",
}
ENTRY_TIER = ("normal", "普通会员", 0)  # tiers are set afterwards through PUT /v1/admin/tiers


class OnboardError(Exception):
    """Input the CLI refuses (a missing file, a key that does not match its certificate): nothing was written."""


class SecretStore(Protocol):
    def ref(self, name: str, value: str) -> str:
        """The reference the merchant row records for the secret `name`."""

    def holds(self, ref: str, value: str) -> bool:
        """Whether `ref` (as this store made it) resolves to `value`."""

    def write(self, ref: str, value: str) -> None:
        """Store `value` under `ref`; refuses to replace another value."""


class DevStore:
    """`dev:` references (the value inside the reference): the local stack only, as platform/secrets.py enforces."""

    def __init__(self) -> None:
        from mini_program_api.platform.config import settings

        if not settings().is_local:
            raise OnboardError("--secrets dev is for the local and test stages only; use --secrets ssm")

    def ref(self, name: str, value: str) -> str:
        return f"dev:{value}"

    def holds(self, ref: str, value: str) -> bool:
        return ref == f"dev:{value}"

    def write(self, ref: str, value: str) -> None:
        pass


class SsmStore:
    """SecureString parameters under `/kabao/{stage}/merchants/{merchant_id}/`."""

    def __init__(self, merchant_id: str, client: Any = None) -> None:
        from mini_program_api.platform.config import settings

        if client is None:
            import boto3

            client = boto3.client("ssm", region_name=settings().region)
        self._client = client
        self._prefix = f"/kabao/{settings().stage}/merchants/{merchant_id}"

    def ref(self, name: str, value: str) -> str:
        return f"ssm:{self._prefix}/{name.replace('_', '-')}"

    def _current(self, ref: str) -> str | None:
        try:
            return str(
                self._client.get_parameter(Name=ref.removeprefix("ssm:"), WithDecryption=True)["Parameter"]["Value"]
            )
        except self._client.exceptions.ParameterNotFound:
            return None

    def holds(self, ref: str, value: str) -> bool:
        return ref.startswith("ssm:") and self._current(ref) == value

    def write(self, ref: str, value: str) -> None:
        current = self._current(ref)
        if current == value:
            return
        if current is not None:
            raise OnboardError(f"SSM parameter {ref.removeprefix('ssm:')} holds another value; not replaced")
        self._client.put_parameter(Name=ref.removeprefix("ssm:"), Value=value, Type="SecureString", Overwrite=False)


@dataclass(frozen=True)
class Pay:
    mchid: str
    cert_serial_no: str
    private_key: str
    apiv3_key: str
    public_key: str | None
    public_key_id: str | None


def read_pay_dir(directory: Path, mchid: str, public_key_id: str | None) -> Pay:
    """WeChat Pay's files, checked: the serial comes from the certificate, which must match the key."""

    def text(kind: str, required: bool = True) -> str | None:
        path = directory / PAY_FILES[kind]
        if not path.is_file():
            if required:
                raise OnboardError(f"missing {path}")
            return None
        return path.read_text().strip() + ("\n" if kind != "apiv3_key" else "")

    private_key, cert, apiv3_key = text("private_key"), text("cert"), text("apiv3_key")
    assert private_key is not None and cert is not None and apiv3_key is not None
    try:
        key = serialization.load_pem_private_key(private_key.encode(), password=None)
        certificate = x509.load_pem_x509_certificate(cert.encode())
    except ValueError as exc:
        raise OnboardError(f"{PAY_FILES['private_key']} or {PAY_FILES['cert']} is not a PEM key/certificate") from exc
    fmt = (serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    if key.public_key().public_bytes(*fmt) != certificate.public_key().public_bytes(*fmt):
        raise OnboardError(f"{PAY_FILES['cert']} is not the certificate of {PAY_FILES['private_key']}")
    if len(apiv3_key.encode()) != 32:
        raise OnboardError("the APIv3 key is 32 characters")
    public_key = text("public_key", required=public_key_id is not None) if public_key_id else None
    if public_key_id is None and (directory / PAY_FILES["public_key"]).is_file():
        raise OnboardError(f"{PAY_FILES['public_key']} is there: give its --public-key-id too")
    return Pay(mchid, format(certificate.serial_number, "X"), private_key, apiv3_key, public_key, public_key_id)


def _args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m infra.deploy.onboard", description=__doc__.split("\n\n")[0])
    parser.add_argument("--merchant-id", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--appid", required=True)
    secret = parser.add_mutually_exclusive_group(required=True)
    secret.add_argument("--app-secret-file", type=Path)
    secret.add_argument("--app-secret-ref")
    parser.add_argument("--timezone", default="Asia/Shanghai")
    parser.add_argument("--secrets", choices=("ssm", "dev"), default="ssm")
    parser.add_argument("--mchid")
    parser.add_argument("--pay-dir", type=Path)
    parser.add_argument("--public-key-id")
    parser.add_argument("--admin", metavar="USERNAME")
    args = parser.parse_args(argv)
    if (args.mchid is None) != (args.pay_dir is None):
        parser.error("--mchid and --pay-dir go together")
    return args


def main(argv: list[str], out: Callable[[str], None] = print, store: SecretStore | None = None) -> int:
    from botocore.exceptions import BotoCoreError, ClientError
    from pynamodb.exceptions import PynamoDBException

    try:
        return _onboard(_args(argv), out, store)
    except OnboardError as exc:
        out(f"error: {exc}")
    except (BotoCoreError, ClientError, PynamoDBException) as exc:  # no credentials, no table, access denied
        out(
            f"error: AWS refused or could not be reached ({type(exc).__name__}); check the credentials, region "
            "and KABAO_TABLE"
        )
    return 1


def _onboard(args: argparse.Namespace, out: Callable[[str], None], store: SecretStore | None) -> int:
    from mini_program_api.db.models import Merchant, merchant_pk
    from mini_program_api.db.staff import StaffAccount, staff_pk
    from mini_program_api.merchants import configuration
    from mini_program_api.staff import accounts

    store = store or (DevStore() if args.secrets == "dev" else SsmStore(args.merchant_id))
    pay = read_pay_dir(args.pay_dir, args.mchid, args.public_key_id) if args.pay_dir else None
    secrets: dict[str, str] = {}  # ref -> value, written only once nothing differs
    if args.app_secret_file is not None:
        if not args.app_secret_file.is_file():
            raise OnboardError(f"missing {args.app_secret_file}")
        value = args.app_secret_file.read_text().strip()
        app_secret_ref = store.ref("app_secret", value)
        secrets[app_secret_ref] = value
    else:
        app_secret_ref = args.app_secret_ref
    pay_refs: dict[str, str | None] = {}
    if pay is not None:
        for name in ("private_key", "apiv3_key", "public_key"):
            value = getattr(pay, name)
            pay_refs[name] = store.ref(name, value) if value is not None else None
            if value is not None:
                secrets[str(pay_refs[name])] = value

    _check_own_refs(args.merchant_id, {"app secret": app_secret_ref, **pay_refs})

    try:
        existing: Merchant | None = Merchant.get(merchant_pk(args.merchant_id), "PROFILE", consistent_read=True)
    except Merchant.DoesNotExist:
        existing = None
    differences: list[str] = []
    if existing is not None:
        for field, wanted in (("name", args.name), ("appid", args.appid), ("timezone", args.timezone)):
            if getattr(existing, field) != wanted:
                differences.append(f"{field}: stored {getattr(existing, field)!r}, given {wanted!r}")
        if not _same_secret(store, existing.app_secret_ref, app_secret_ref, secrets):
            differences.append("app secret: the stored one differs (not shown)")
        if pay is not None and existing.pay is not None:
            differences += _pay_differences(store, existing.pay, pay, pay_refs, secrets)
    admin = None
    if args.admin:
        try:
            admin = StaffAccount.get(staff_pk(args.merchant_id), args.admin, consistent_read=True)
        except StaffAccount.DoesNotExist:
            admin = None
        if admin is not None and admin.role != "admin":
            differences.append(f"admin: {args.admin} exists with role {admin.role}")
    if differences:
        out(f"merchant {args.merchant_id} exists with other values; nothing changed:")
        for line in differences:
            out(f"  - {line}")
        return 1

    for ref, value in secrets.items():
        store.write(ref, value)
    changed = False
    if existing is None:
        configuration.create(
            configuration.MerchantSpec(
                merchant_id=args.merchant_id,
                name=args.name,
                appid=args.appid,
                app_secret_ref=app_secret_ref,
                tiers=[ENTRY_TIER],
                timezone=args.timezone,
            )
        )
        out(f"merchant {args.merchant_id} created (appid {args.appid})")
        changed = True
    if pay is not None and (existing is None or existing.pay is None):
        configuration.configure_pay(
            args.merchant_id,
            mchid=pay.mchid,
            cert_serial_no=pay.cert_serial_no,
            private_key_ref=str(pay_refs["private_key"]),
            apiv3_key_ref=str(pay_refs["apiv3_key"]),
            public_key_ref=pay_refs["public_key"],
            public_key_id=pay.public_key_id,
        )
        out(
            f"WeChat Pay configured: mchid {pay.mchid}, certificate serial {pay.cert_serial_no}"
            f"{', WeChat Pay public key ' + pay.public_key_id if pay.public_key_id else ', platform certificates'}"
        )
        changed = True
    if args.admin and admin is None:
        password = os.environ.get("KABAO_ADMIN_PASSWORD") or getpass.getpass(f"password for admin {args.admin}: ")
        from mini_program_api.platform.errors import KabaoError

        try:
            accounts.create_account(None, args.merchant_id, args.admin, password, "admin", None)
        except KabaoError as exc:
            raise OnboardError(f"{exc.code}: {exc.message}") from exc
        out(f"admin {args.admin} created")
        changed = True
    if not changed:
        out(f"merchant {args.merchant_id}: already onboarded with these values, nothing changed")
    return 0


def _check_own_refs(merchant_id: str, refs: dict[str, str | None]) -> None:
    """Before anything is written: every reference names this merchant's own parameters (platform/secrets.py),
    never another merchant's (`--app-secret-ref` is typed by hand; a merchant id with `/` or `..` in it would
    move the store's own paths)."""
    from mini_program_api.platform.secrets import SecretError, check_merchant_refs

    try:
        check_merchant_refs(
            merchant_id, {f"{name.replace('_', ' ')} reference refused": ref for name, ref in refs.items()}
        )
    except SecretError as exc:
        raise OnboardError(str(exc)) from None


def _same_secret(store: SecretStore, stored_ref: str, wanted_ref: str, secrets: dict[str, str]) -> bool:
    """The stored reference is the wanted one and (for a value we were given) resolves to that value."""
    if stored_ref != wanted_ref:
        return False
    return wanted_ref not in secrets or store.holds(wanted_ref, secrets[wanted_ref])


def _pay_differences(
    store: SecretStore, stored: Any, pay: Pay, refs: dict[str, str | None], secrets: dict[str, str]
) -> list[str]:
    found = [
        f"{field}: stored {getattr(stored, field)!r}, given {getattr(pay, field)!r}"
        for field in ("mchid", "cert_serial_no", "public_key_id")
        if getattr(stored, field) != getattr(pay, field)
    ]
    for name in ("private_key", "apiv3_key", "public_key"):
        stored_ref, wanted_ref = getattr(stored, f"{name}_ref"), refs[name]
        same = stored_ref == wanted_ref if wanted_ref is None else _same_secret(store, stored_ref, wanted_ref, secrets)
        if not same:
            found.append(f"{name.replace('_', ' ')}: the stored one differs (not shown)")
    return found


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
