"""Secret references: `ssm:` read from Parameter Store (moto stands in for SSM), `dev:` local only."""
from __future__ import annotations

import uuid

import boto3
import pytest
from moto import mock_aws

from mini_program_api import secrets


def test_an_ssm_reference_reads_the_decrypted_parameter() -> None:
    name = f"/kabao/test/{uuid.uuid4().hex}"
    with mock_aws():
        boto3.client("ssm", region_name="cn-north-1").put_parameter(Name=name, Value="s3cret", Type="SecureString")
        assert secrets.resolve(f"ssm:{name}") == "s3cret"


@pytest.mark.parametrize("ref", ["", "ssm:", "plain-value", "vault:/x"])
def test_malformed_or_unknown_references_are_refused(ref: str) -> None:
    with pytest.raises(secrets.SecretError):
        secrets.resolve(ref)
