"""Issue 13: the onboarding CLI (infra/deploy/onboard.py) against DynamoDB Local and the WeChat sandboxes:
the merchant it creates logs members in and takes top-ups; a second run changes nothing; a run with other
values says what differs and changes nothing; no secret is ever printed."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from infra.deploy import onboard
from infra.local.devkeys import merchant_keys
from mini_program_api.db.models import Merchant, merchant_pk
from mini_program_api.merchants import merchants

PASSWORD = "onboard-admin-password-1"


@pytest.fixture
def setup(tmp_path: Path, sandbox: Any, monkeypatch: Any) -> dict[str, Any]:
    suffix = uuid.uuid4().hex[:10]
    keys, other = merchant_keys("onboard"), merchant_keys("other")
    appid, secret, mchid = f"wx{suffix}", f"app-secret-{suffix}", f"16{uuid.uuid4().int % 10**8:08d}"
    sandbox.apps[appid] = secret
    sandbox.pay.merchants[mchid] = {
        "mchid": mchid,
        "appid": appid,
        "apiv3_key": keys.apiv3_key,
        "sign_with": "public_key",
        "api_public_key": keys.api.public_pem,
        "api_serial": keys.api.serial,
    }
    pay_dir = tmp_path / "wechatpay"
    pay_dir.mkdir()
    (pay_dir / "apiclient_key.pem").write_text(keys.api.private_pem)
    (pay_dir / "apiclient_cert.pem").write_text(keys.api.cert_pem)
    (pay_dir / "apiv3_key.txt").write_text(keys.apiv3_key + "\n")
    (pay_dir / "pub_key.pem").write_text(sandbox.pay.keys.public_key.public_pem)
    (tmp_path / "app_secret.txt").write_text(secret)
    monkeypatch.setenv("KABAO_ADMIN_PASSWORD", PASSWORD)
    argv = [
        "--merchant-id",
        f"m-{suffix}",
        "--name",
        "Onboarded Tea",
        "--appid",
        appid,
        "--app-secret-file",
        str(tmp_path / "app_secret.txt"),
        "--secrets",
        "dev",
        "--mchid",
        mchid,
        "--pay-dir",
        str(pay_dir),
        "--public-key-id",
        sandbox.pay.keys.public_key_id,
        "--admin",
        "boss",
    ]
    return {
        "argv": argv,
        "keys": keys,
        "other": other,
        "pay_dir": pay_dir,
        "secret": secret,
        "merchant_id": f"m-{suffix}",
        "appid": appid,
    }


def _run(argv: list[str]) -> tuple[int, str]:
    lines: list[str] = []
    code = onboard.main(argv, out=lines.append)
    return code, "\n".join(lines)


def _row(merchant_id: str) -> dict[str, Any]:
    return Merchant.get(merchant_pk(merchant_id), "PROFILE", consistent_read=True).serialize()


def _secret_free(output: str, setup: dict[str, Any]) -> None:
    keys = setup["keys"]
    for secret in (keys.apiv3_key, keys.api.private_pem.splitlines()[1], setup["secret"], PASSWORD):
        assert secret not in output


def test_onboarded_merchant_works_and_a_second_run_changes_nothing(api: Any, setup: dict[str, Any]) -> None:
    code, output = _run(setup["argv"])
    assert code == 0, output
    assert "created" in output and "WeChat Pay configured" in output and setup["keys"].api.serial in output
    _secret_free(output, setup)
    merchant_id = setup["merchant_id"]
    stored = merchants.read(merchant_id)
    assert stored.pay.cert_serial_no == setup["keys"].api.serial and stored.pay.mchid == setup["argv"][11]

    # The merchant it made serves members (login through the app secret) and top-ups (through its pay keys).
    merchant = merchants.get(merchant_id)
    member = api.member_with_card(merchant)
    status, order = api.post(
        "/v1/topup/orders", {"amount": 10000}, token=member["token"], headers={"idempotency-key": uuid.uuid4().hex}
    )
    assert status == 200 and order["status"] == "PENDING" and order["pay_params"]["paySign"], order
    # Its first admin logs in.
    status, body = api.post("/v1/staff/login", {"merchant_id": merchant_id, "username": "boss", "password": PASSWORD})
    assert status == 200 and body["role"] == "admin", body

    before = _row(merchant_id)
    code, output = _run(setup["argv"])
    assert code == 0 and "nothing changed" in output, output
    assert _row(merchant_id) == before


def test_a_run_with_other_values_names_each_difference_and_changes_nothing(setup: dict[str, Any]) -> None:
    assert _run(setup["argv"])[0] == 0
    before = _row(setup["merchant_id"])
    (setup["pay_dir"] / "apiv3_key.txt").write_text(setup["other"].apiv3_key)
    argv = [*setup["argv"]]
    argv[argv.index("--name") + 1] = "Renamed Tea"
    code, output = _run(argv)
    assert code == 1, output
    assert "name: stored 'Onboarded Tea', given 'Renamed Tea'" in output
    assert "apiv3 key: the stored one differs" in output
    assert "private key" not in output and "app secret" not in output
    _secret_free(output, setup)
    assert setup["other"].apiv3_key not in output
    assert _row(setup["merchant_id"]) == before


BREAKAGES = [
    ("apiclient_cert.pem", lambda s: s["other"].api.cert_pem, "is not the certificate of"),
    ("apiclient_key.pem", None, "missing"),
    ("apiv3_key.txt", lambda s: "short", "32 characters"),
    ("apiclient_cert.pem", lambda s: "not a pem", "is not a PEM"),
]


def test_bad_pay_files_are_refused_and_nothing_is_written(setup: dict[str, Any]) -> None:
    for name, content, message in BREAKAGES:
        path = setup["pay_dir"] / name
        good = path.read_text()
        if content is None:
            path.unlink()
        else:
            path.write_text(content(setup))
        code, output = _run(setup["argv"])
        assert code == 1 and message in output, (name, output)
        path.write_text(good)
    with pytest.raises(Merchant.DoesNotExist):
        Merchant.get(merchant_pk(setup["merchant_id"]), "PROFILE", consistent_read=True)


def test_ssm_store_writes_secure_strings_once_and_never_replaces_another_value() -> None:
    with mock_aws():
        client = boto3.client("ssm", region_name="cn-north-1")
        store = onboard.SsmStore("acme", client)
        ref = store.ref("private_key", "PEM")
        assert ref == "ssm:/kabao/test/merchants/acme/private-key"
        assert not store.holds(ref, "PEM")
        store.write(ref, "PEM")
        store.write(ref, "PEM")  # again: nothing to do
        parameter = client.get_parameter(Name=ref.removeprefix("ssm:"), WithDecryption=True)["Parameter"]
        assert (parameter["Type"], parameter["Value"], parameter["Version"]) == ("SecureString", "PEM", 1)
        assert store.holds(ref, "PEM") and not store.holds(ref, "OTHER")
        with pytest.raises(onboard.OnboardError):
            store.write(ref, "OTHER")


def test_a_reference_outside_the_merchants_own_path_is_refused_and_nothing_is_written(setup: dict[str, Any]) -> None:
    """Issue 23 item 2: `--app-secret-ref` could name another merchant's parameter, which the Lambda may read."""
    from mini_program_api.platform.config import settings

    base = f"/kabao/{settings().stage}/merchants"
    argv = [*setup["argv"]]
    at = argv.index("--app-secret-file")
    for ref in (
        f"ssm:{base}/globex/app-secret",
        f"ssm:{base}/{setup['merchant_id']}/../globex/app-secret",
        f"ssm:{base}/{setup['merchant_id']}/app-secret/",
        f"ssm:{base}/{setup['merchant_id'].upper()}/x",
        f"ssm:/kabao/{settings().stage}/jwt-secret",
        f"vault:{base}/{setup['merchant_id']}/app-secret",
    ):
        argv[at : at + 2] = ["--app-secret-ref", ref]
        code, output = _run(argv)
        assert code == 1 and "app secret reference refused" in output, (ref, output)
    with pytest.raises(Merchant.DoesNotExist):
        Merchant.get(merchant_pk(setup["merchant_id"]), "PROFILE", consistent_read=True)


def test_a_merchant_id_that_would_move_its_parameters_is_refused_before_ssm_is_written(setup: dict[str, Any]) -> None:
    argv = [*setup["argv"]]
    argv[argv.index("--merchant-id") + 1] = "acme/../globex"
    argv[argv.index("--secrets") + 1] = "ssm"
    with mock_aws():
        client = boto3.client("ssm", region_name="cn-north-1")
        lines: list[str] = []
        code = onboard.main(argv, out=lines.append, store=onboard.SsmStore("acme/../globex", client))
        assert code == 1 and "reference refused" in "\n".join(lines), lines
        assert client.describe_parameters()["Parameters"] == []
