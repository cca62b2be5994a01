"""What `chalice package` does not generate: the table, scoped IAM, the secrets' parameter paths,
API Gateway's own answers (unknown routes, throttling, timeouts) in kabao's error shape, and the
alarms (`alarms.py`). X-Ray tracing is `"xray": true` in chalice.json (Tracing: Active on every
function); the API stage's tracing and the role's X-Ray rights are added here.

Merged into Chalice's SAM template (`chalice package --merge-template`). Built from
`db/schema.py` so the deployed table always has the keys and indexes the code uses.
"""

from __future__ import annotations

import json
from typing import Any

from mini_program_api.db.schema import (
    ATTRIBUTE_DEFINITIONS,
    GLOBAL_SECONDARY_INDEXES,
    KEY_SCHEMA,
    LOCAL_SECONDARY_INDEXES,
    STREAM_SPECIFICATION,
    TTL_ATTRIBUTE,
)
from mini_program_api.routes.gateway import GATEWAY_RESPONSES

from .alarms import ALARM_TOPIC_PARAMETER, alarms

# Item-level actions only: TransactWriteItems is authorised per item as Put/Update/Delete/ConditionCheck.
DYNAMODB_ACTIONS = [
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:Query",
]
WALLET_RECORDS = {"dynamodb": {"Keys": {"sk": {"S": ["WALLET"]}}}}  # wallet/models.py MEMBER_SK
STREAM_ACTIONS = ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"]
LOG_GROUPS_ARN = "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:*"
# X-Ray has no resource-level permissions: these two are granted on "*" (what AWSXRayDaemonWriteAccess does).
XRAY_ACTIONS = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]


def secret_parameters(environment: dict[str, str], stage: str) -> list[str]:
    """Parameter names the functions may read: the stage's own refs, and merchants' under one prefix.

    The one role serves every merchant, so IAM cannot keep one merchant's parameters from another's
    (platform/secrets.py does, by path); it keeps the functions inside this stage. A stage reference
    outside `/kabao/{stage}/`, or inside the merchants' tree, or with a wildcard, is a build error: it
    would widen the grant beyond what the stage needs."""
    names = sorted({v.removeprefix("ssm:") for v in environment.values() if v.startswith("ssm:")})
    merchants = f"/kabao/{stage}/merchants/"
    for name in names:
        parts = name.removeprefix(f"/kabao/{stage}/").split("/")
        if (
            not name.startswith(f"/kabao/{stage}/")
            or name.startswith(merchants)
            or not all(
                part.strip(".") and all(c.isascii() and (c.isalnum() or c in "_.-") for c in part) for part in parts
            )
        ):
            raise ValueError(f"the stage's secret {name!r} is not a parameter under /kabao/{stage}/")
    return names + [f"{merchants}*"]


def gateway_responses() -> dict[str, Any]:
    """One AWS::ApiGateway::GatewayResponse per type, on Chalice's RestAPI, with a fixed body: never
    `$context.error.message`, which for an unknown route quotes the caller's Authorization header."""
    resources = {}
    for kind, answer in GATEWAY_RESPONSES.items():
        properties: dict[str, Any] = {
            "RestApiId": {"Ref": "RestAPI"},
            "ResponseType": kind,
            "ResponseTemplates": {"application/json": json.dumps(answer.body(), ensure_ascii=False)},
        }
        if answer.status is not None:
            properties["StatusCode"] = str(answer.status)
        name = "GatewayResponse" + "".join(part.title() for part in kind.split("_"))
        resources[name] = {"Type": "AWS::ApiGateway::GatewayResponse", "Properties": properties}
    return resources


def import_bucket(name: str, public_url: str) -> dict[str, Any]:
    """Member import files (member_import/files.py): the console PUTs a file with a presigned URL (CORS from the
    API's own origin, where the console is served), the import jobs read it back; kept 7 days, private."""
    return {
        "ImportBucket": {
            "Type": "AWS::S3::Bucket",
            "Properties": {
                "BucketName": name,
                "PublicAccessBlockConfiguration": {
                    "BlockPublicAcls": True,
                    "BlockPublicPolicy": True,
                    "IgnorePublicAcls": True,
                    "RestrictPublicBuckets": True,
                },
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
                },
                "LifecycleConfiguration": {
                    "Rules": [{"Id": "expire-imports", "Status": "Enabled", "ExpirationInDays": 7}]
                },
                "CorsConfiguration": {
                    "CorsRules": [
                        {
                            "AllowedMethods": ["PUT"],
                            "AllowedOrigins": [public_url or "*"],
                            "AllowedHeaders": ["Content-Type"],
                            "MaxAge": 3600,
                        }
                    ]
                },
            },
        }
    }


def import_bucket_access(name: str) -> dict[str, Any]:
    """Presigning a PUT needs the signer's s3:PutObject; the jobs read (GetObject, which HEAD uses too)."""
    return {
        "Effect": "Allow",
        "Action": ["s3:PutObject", "s3:GetObject"],
        "Resource": {"Fn::Sub": f"arn:${{AWS::Partition}}:s3:::{name}/imports/*"},
    }


def merge_template(stage: str, environment: dict[str, str]) -> dict[str, Any]:
    table = environment["KABAO_TABLE"]
    table_arn = {"Fn::GetAtt": ["KabaoTable", "Arn"]}
    parameter_arns = [
        {"Fn::Sub": f"arn:${{AWS::Partition}}:ssm:${{AWS::Region}}:${{AWS::AccountId}}:parameter{name}"}
        for name in secret_parameters(environment, stage)
    ]
    bucket = environment.get("KABAO_IMPORT_BUCKET")
    return {
        "Parameters": {
            ALARM_TOPIC_PARAMETER: {
                "Type": "String",
                "Default": "",
                "Description": "SNS topic ARN that alarms notify (empty: alarms are kept, nobody is told)",
            },
        },
        "Conditions": {"HasAlarmTopic": {"Fn::Not": [{"Fn::Equals": [{"Ref": ALARM_TOPIC_PARAMETER}, ""]}]}},
        "Resources": {
            **gateway_responses(),
            **alarms(),
            "RestAPI": {"Properties": {"TracingEnabled": True}},
            **(import_bucket(bucket, environment.get("KABAO_PUBLIC_URL", "")) if bucket else {}),
            "KabaoTable": {
                "Type": "AWS::DynamoDB::Table",
                "DeletionPolicy": "Retain",
                "UpdateReplacePolicy": "Retain",
                "Properties": {
                    "TableName": table,
                    "BillingMode": "PAY_PER_REQUEST",
                    "KeySchema": KEY_SCHEMA,
                    "AttributeDefinitions": ATTRIBUTE_DEFINITIONS,
                    "LocalSecondaryIndexes": LOCAL_SECONDARY_INDEXES,
                    "GlobalSecondaryIndexes": GLOBAL_SECONDARY_INDEXES,
                    "TimeToLiveSpecification": {"AttributeName": TTL_ATTRIBUTE, "Enabled": True},
                    "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                    "DeletionProtectionEnabled": True,
                    "SSESpecification": {"SSEEnabled": True},
                    "StreamSpecification": {"StreamViewType": STREAM_SPECIFICATION["StreamViewType"]},
                },
            },
            # The WeChat 卡包 sync reads the table's own stream, reporting failed records one by one.
            "WalletStream": {
                "Properties": {
                    "Events": {
                        "WalletStreamDynamodbEventSource": {
                            "Properties": {
                                "Stream": {"Fn::GetAtt": ["KabaoTable", "StreamArn"]},
                                "FunctionResponseTypes": ["ReportBatchItemFailures"],
                                # Only the wallet items wake it: Lambda filters out every other write.
                                "FilterCriteria": {"Filters": [{"Pattern": json.dumps(WALLET_RECORDS)}]},
                            }
                        }
                    }
                }
            },
            "DefaultRole": {
                "Properties": {
                    "Policies": [
                        {
                            "PolicyName": "KabaoPolicy",
                            "PolicyDocument": {
                                "Version": "2012-10-17",
                                "Statement": [
                                    {
                                        "Effect": "Allow",
                                        "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                                        "Resource": {"Fn::Sub": LOG_GROUPS_ARN},
                                    },
                                    {
                                        "Effect": "Allow",
                                        "Action": DYNAMODB_ACTIONS,
                                        "Resource": [table_arn, {"Fn::Sub": "${KabaoTable.Arn}/index/*"}],
                                    },
                                    {"Effect": "Allow", "Action": ["ssm:GetParameter"], "Resource": parameter_arns},
                                    {
                                        "Effect": "Allow",
                                        "Action": STREAM_ACTIONS,
                                        "Resource": {"Fn::GetAtt": ["KabaoTable", "StreamArn"]},
                                    },
                                    {"Effect": "Allow", "Action": XRAY_ACTIONS, "Resource": "*"},
                                    *([import_bucket_access(bucket)] if bucket else []),
                                ],
                            },
                        }
                    ]
                }
            },
        },
        "Outputs": {"TableName": {"Value": {"Ref": "KabaoTable"}}},
    }
