"""Secret references: `ssm:` read from Parameter Store (moto stands in for SSM), `dev:` local only."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import boto3
import pytest
from moto import mock_aws

from mini_program_api.platform import secrets


def test_an_ssm_reference_reads_the_decrypted_parameter() -> None:
    name = f"/kabao/test/{uuid.uuid4().hex}"
    with mock_aws():
        boto3.client("ssm", region_name="cn-north-1").put_parameter(Name=name, Value="s3cret", Type="SecureString")
        assert secrets.resolve(f"ssm:{name}") == "s3cret"


def test_a_rotated_secret_is_picked_up_after_its_max_age_without_a_cold_start(monkeypatch: pytest.MonkeyPatch) -> None:
    from aws_lambda_powertools.utilities.parameters import base

    name = f"/kabao/test/{uuid.uuid4().hex}"
    with mock_aws():
        ssm = boto3.client("ssm", region_name="cn-north-1")
        ssm.put_parameter(Name=name, Value="before", Type="SecureString")
        assert secrets.resolve(f"ssm:{name}") == "before"
        ssm.put_parameter(Name=name, Value="after", Type="SecureString", Overwrite=True)
        assert secrets.resolve(f"ssm:{name}") == "before"  # cached: no SSM call per request

        class Later(datetime):  # the clock Powertools' parameter cache reads, moved past the max age
            @classmethod
            def now(cls, tz: object = None) -> datetime:  # type: ignore[override]
                return datetime.now() + timedelta(seconds=secrets.MAX_AGE_SECONDS + 1)

        monkeypatch.setattr(base, "datetime", Later)
        assert secrets.resolve(f"ssm:{name}") == "after"


@pytest.mark.parametrize("ref", ["", "ssm:", "plain-value", "vault:/x"])
def test_malformed_or_unknown_references_are_refused(ref: str) -> None:
    with pytest.raises(secrets.SecretError):
        secrets.resolve(ref)


def test_dev_references_are_refused_outside_local_stages(monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    from mini_program_api.platform.config import settings

    prod = dataclasses.replace(settings(), stage="prod")
    monkeypatch.setattr(secrets, "settings", lambda: prod)
    with pytest.raises(secrets.SecretError):
        secrets.resolve("dev:some-key")
