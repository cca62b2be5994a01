"""The Parameters and Secrets extension's layer by region (infra/deploy/secrets_extension.py): the partition's ARN
for each region, China's included, and an override that cannot name another region's or partition's layer."""

from __future__ import annotations

import pytest

from infra.deploy import secrets_extension
from infra.deploy.template import merge_template


@pytest.mark.parametrize(
    ("region", "arn"),
    [
        ("cn-north-1", "arn:aws-cn:lambda:cn-north-1:287114880934:layer:AWS-Parameters-and-Secrets-Lambda-Extension:"),
        (
            "cn-northwest-1",
            "arn:aws-cn:lambda:cn-northwest-1:287310001119:layer:AWS-Parameters-and-Secrets-Lambda-Extension:",
        ),
        ("us-east-1", "arn:aws:lambda:us-east-1:177933569100:layer:AWS-Parameters-and-Secrets-Lambda-Extension:"),
        ("us-gov-west-1", "arn:aws-us-gov:lambda:us-gov-west-1:127562683043:layer:AWS-Parameters-and-Secrets-Lambda-"),
    ],
)
def test_the_layer_is_awss_for_the_region_in_its_partition(region: str, arn: str) -> None:
    assert secrets_extension.layer(region).startswith(arn)


def test_every_layer_in_the_table_is_in_its_own_region_and_partition() -> None:
    for region, arn in secrets_extension.LAYERS.items():
        assert secrets_extension.layer(region, arn) == arn


def test_a_region_not_in_the_table_needs_the_override() -> None:
    with pytest.raises(ValueError, match="secrets_extension_layer"):
        secrets_extension.layer("xx-nowhere-1")
    own = "arn:aws:lambda:xx-nowhere-1:123456789012:layer:AWS-Parameters-and-Secrets-Lambda-Extension:7"
    assert secrets_extension.layer("xx-nowhere-1", own) == own


@pytest.mark.parametrize(
    "override",
    [
        "arn:aws:lambda:cn-north-1:287114880934:layer:AWS-Parameters-and-Secrets-Lambda-Extension:100",  # partition
        "arn:aws-cn:lambda:cn-northwest-1:287310001119:layer:AWS-Parameters-and-Secrets-Lambda-Extension:94",  # region
        "arn:aws-cn:lambda:cn-north-1:287114880934:layer:AWS-Parameters-and-Secrets-Lambda-Extension",  # no version
        "AWS-Parameters-and-Secrets-Lambda-Extension:100",
        "",
        100,
    ],
)
def test_an_override_of_another_region_or_partition_or_no_version_is_a_build_error(override: object) -> None:
    with pytest.raises(ValueError, match="cn-north-1"):
        secrets_extension.layer("cn-north-1", override)


def test_the_merged_template_gives_every_function_the_layer_and_settings_or_the_override() -> None:
    environment = {"KABAO_TABLE": "kabao-prod", "KABAO_JWT_SECRET": "ssm:/kabao/prod/jwt-secret"}
    function = merge_template("prod", environment, region="cn-northwest-1")["Globals"]["Function"]
    assert function["Layers"] == [secrets_extension.LAYERS["cn-northwest-1"]]
    assert function["Environment"]["Variables"]["SSM_PARAMETER_STORE_TTL"] == "240"
    newer = "arn:aws-cn:lambda:cn-northwest-1:287310001119:layer:AWS-Parameters-and-Secrets-Lambda-Extension:95"
    overridden = merge_template("prod", environment, region="cn-northwest-1", extension_layer=newer)
    assert overridden["Globals"]["Function"]["Layers"] == [newer]
