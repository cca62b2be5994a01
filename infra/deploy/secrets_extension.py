"""The AWS Parameters and Secrets Lambda Extension on every function: its layer for the stack's region and its
settings, so `ssm:` references are read on loopback (mini_program_api/platform/secrets.py) without an SDK.

The layer is AWS's, published in every region under an AWS account of that region (a function can only use a
layer of its own region and partition). `LAYERS` is the x86_64 table of AWS's page "Using Parameter Store
parameters in AWS Lambda functions" (docs.aws.amazon.com/systems-manager/latest/userguide/
ps-integration-lambda-extensions.html, "Extension ARNs for the x86_64 and x86 architectures", last updated
2026-07-28; Chalice deploys x86_64). To refresh it, copy that table, or ask each region for the newest version:

    aws ssm get-parameter --region cn-north-1 --query Parameter.Value --output text \
        --name /aws/service/aws-parameters-and-secrets-lambda-extension/x86/latest

A region or a version not in the table: `stages.<stage>.kabao.secrets_extension_layer` in chalice.json, a layer
ARN of the stack's region (checked here; anything else is a build error, never a stack that fails to read its
secrets at the first request).

The extension reads parameters with the function's own role: `ssm:GetParameter` on the stage's and the
merchants' parameters (template.py), and `kms:Decrypt` only for a SecureString under a customer managed key,
which docs/deploy.md says how to grant (the default `aws/ssm` key allows decryption through SSM to any
principal of the account that may read the parameter).
"""

from __future__ import annotations

import re
from typing import Any

from mini_program_api.platform.secrets import DEFAULT_PORT, EXTENSION_TTL_SECONDS, TIMEOUT_SECONDS

_NAME = "AWS-Parameters-and-Secrets-Lambda-Extension"
# region -> (the account that publishes the layer there, its version), x86_64
_PUBLISHED = {
    "us-east-2": ("590474943231", 109),
    "us-east-1": ("177933569100", 99),
    "us-west-1": ("997803712105", 96),
    "us-west-2": ("345057560386", 99),
    "af-south-1": ("317013901791", 100),
    "ap-east-1": ("768336418462", 97),
    "ap-east-2": ("890742577149", 69),
    "ap-south-2": ("070087711984", 91),
    "ap-southeast-3": ("490737872127", 94),
    "ap-southeast-4": ("090732460067", 84),
    "ap-southeast-5": ("381492012281", 83),
    "ap-southeast-6": ("995508174458", 78),
    "ap-south-1": ("176022468876", 95),
    "ap-northeast-3": ("576959938190", 94),
    "ap-northeast-2": ("738900069198", 99),
    "ap-southeast-1": ("044395824272", 101),
    "ap-southeast-2": ("665172237481", 105),
    "ap-southeast-7": ("941377119484", 84),
    "ap-northeast-1": ("133490724326", 100),
    "ca-central-1": ("200266452380", 107),
    "ca-west-1": ("243964427225", 71),
    "cn-north-1": ("287114880934", 100),
    "cn-northwest-1": ("287310001119", 94),
    "eu-central-1": ("187925254637", 101),
    "eu-west-1": ("015030872274", 101),
    "eu-west-2": ("133256977650", 99),
    "eu-south-1": ("325218067255", 95),
    "eu-west-3": ("780235371811", 98),
    "eu-south-2": ("524103009944", 90),
    "eu-north-1": ("427196147048", 95),
    "il-central-1": ("148806536434", 71),
    "eu-central-2": ("772501565639", 78),
    "mx-central-1": ("241533131596", 68),
    "me-south-1": ("832021897121", 58),
    "me-central-1": ("858974508948", 60),
    "sa-east-1": ("933737806257", 103),
    "us-gov-east-1": ("129776340158", 95),
    "us-gov-west-1": ("127562683043", 98),
}


def partition(region: str) -> str:
    """The ARN partition a region belongs to: China's regions are `aws-cn`, GovCloud's `aws-us-gov`."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


LAYERS = {
    region: f"arn:{partition(region)}:lambda:{region}:{account}:layer:{_NAME}:{version}"
    for region, (account, version) in _PUBLISHED.items()
}

# What the extension reads from the function's environment (same page, "environment variables").
ENVIRONMENT = {
    "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": str(DEFAULT_PORT),
    # Its cache and ours add up to the rotation bound secrets.py promises (ROTATION_SECONDS).
    "SSM_PARAMETER_STORE_TTL": str(EXTENSION_TTL_SECONDS),
    # Its call to SSM gives up before ours to it, so a slow SSM is its error, not our timeout (0: never).
    "SSM_PARAMETER_STORE_TIMEOUT_MILLIS": str(int(TIMEOUT_SECONDS * 1000) - 1000),
    # Warnings and errors only: INFO logs a line per cold start and a parameter name per fetch.
    "PARAMETERS_SECRETS_EXTENSION_LOG_LEVEL": "WARN",
}

_ARN = re.compile(r"arn:(aws|aws-cn|aws-us-gov):lambda:([a-z0-9-]+):[0-9]{12}:layer:[A-Za-z0-9_-]+:[0-9]+")


def layer(region: str, override: Any = None) -> str:
    """The extension's layer ARN for a stack in `region`: the override (chalice.json
    `stages.<stage>.kabao.secrets_extension_layer`) when given, else AWS's from `LAYERS`."""
    if override is None:
        if region not in LAYERS:
            raise ValueError(
                f"no Parameters and Secrets extension layer known for {region}: set "
                "stages.<stage>.kabao.secrets_extension_layer in chalice.json (infra/deploy/secrets_extension.py)"
            )
        return LAYERS[region]
    match = _ARN.fullmatch(override) if isinstance(override, str) else None
    if match is None or match.group(1) != partition(region) or match.group(2) != region:
        raise ValueError(f"secrets_extension_layer must be a layer version ARN in {region} ({partition(region)})")
    return override


def globals_for_functions(region: str, override: Any = None) -> dict[str, Any]:
    """SAM's `Globals.Function`: every function of the stack gets the layer and its settings (SAM adds them to
    each function's own environment and layers)."""
    return {"Function": {"Layers": [layer(region, override)], "Environment": {"Variables": dict(ENVIRONMENT)}}}
