"""A merchant's secret references name only its own parameters (platform/secrets.py, issue 23 item 2): one Lambda
role reads every merchant's, so the path is all that keeps one merchant's admin off another's secrets."""

from __future__ import annotations

import pytest

from mini_program_api.platform import secrets
from mini_program_api.platform.config import settings


def _own(name: str) -> str:
    return f"ssm:{secrets.merchant_prefix('acme')}{name}"


@pytest.mark.parametrize("ref", [_own("oa-secret"), _own("wallet/event-token"), _own("v2.key_1"), "dev:s3cret"])
def test_the_merchants_own_references_are_taken(ref: str) -> None:
    secrets.check_merchant_ref("acme", ref)


def _refused() -> list[str]:
    stage = settings().stage
    base = f"/kabao/{stage}/merchants"
    return [
        f"ssm:{base}/globex/oa-secret",  # another merchant's
        f"ssm:{base}/acme-2/oa-secret",  # a merchant whose id starts with this one's
        f"ssm:{base}/acme/../globex/oa-secret",  # traversal
        f"ssm:{base}/acme/./oa-secret",
        f"ssm:{base}/acme/.../oa-secret",
        f"ssm:{base}/acme/oa-secret/",  # trailing slash
        f"ssm:{base}/acme//oa-secret",
        f"ssm:{base}/acme/",
        f"ssm:{base}/acme",
        f"ssm:{base}/ACME/oa-secret",  # SSM names are case-sensitive: not acme's
        f"ssm:/KABAO/{stage}/merchants/acme/oa-secret",
        f"ssm:/kabao/{stage}/Merchants/acme/oa-secret",
        f"ssm:/kabao/{stage}x/merchants/acme/oa-secret",  # another stage
        f"ssm:/kabao/{stage}/jwt-secret",  # the stage's own secrets
        f"ssm:/kabao/{stage}/pii-key",
        f"ssm:kabao/{stage}/merchants/acme/oa-secret",
        f"ssm:{base}/acme/oa-secret:1",  # a version selector names what SSM picks, not a path of ours
        f"ssm:{base}/acme/oa secret",
        f"ssm:arn:aws-cn:ssm:cn-north-1:123456789012:parameter{base}/globex/oa-secret",
        f"SSM:{base}/acme/oa-secret",  # other schemes
        f"vault:{base}/acme/oa-secret",
        f"s3:{base}/acme/oa-secret",
        "dev:",
        "",
        "ssm:",
    ]


@pytest.mark.parametrize("ref", _refused())
def test_anything_else_is_refused(ref: str) -> None:
    with pytest.raises(secrets.SecretError):
        secrets.check_merchant_ref("acme", ref)
    with pytest.raises(secrets.SecretError):
        secrets.resolve_merchant("acme", ref)


@pytest.mark.parametrize("merchant_id", ["..", "a/b", "acme/../globex", ""])
def test_a_merchant_id_that_would_move_the_path_has_no_references(merchant_id: str) -> None:
    with pytest.raises(secrets.SecretError):
        secrets.check_merchant_ref(merchant_id, f"ssm:{secrets.merchant_prefix(merchant_id)}oa-secret")


def test_a_dev_reference_is_refused_when_written_on_a_stage_that_is_not_local(monkeypatch: pytest.MonkeyPatch) -> None:
    """`resolve` refuses `dev:` outside local stages, but writing one (the merchant row, the onboarding CLI) was
    taken on any stage: a production merchant onboarded with a dev secret failed only at its first payment."""
    try:
        monkeypatch.setenv("KABAO_STAGE", "prod")
        settings.cache_clear()
        with pytest.raises(secrets.SecretError, match="local"):
            secrets.check_merchant_ref("acme", "dev:s3cret")
        with pytest.raises(secrets.SecretError, match="oa_secret"):
            secrets.check_merchant_refs("acme", {"oa_secret": "dev:s3cret"})
        secrets.check_merchant_ref("acme", "ssm:/kabao/prod/merchants/acme/oa-secret")
    finally:
        monkeypatch.undo()
        settings.cache_clear()
