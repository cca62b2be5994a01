"""What `chalice package` does not generate: the table, scoped IAM, and the secrets' parameter paths.

Merged into Chalice's SAM template (`chalice package --merge-template`). Built from
`db/schema.py` so the deployed table always has the keys and indexes the code uses.
"""
from __future__ import annotations

from typing import Any

from mini_program_api.db.schema import (
    ATTRIBUTE_DEFINITIONS,
    GLOBAL_SECONDARY_INDEXES,
    KEY_SCHEMA,
    LOCAL_SECONDARY_INDEXES,
    TTL_ATTRIBUTE,
)

# Item-level actions only: TransactWriteItems is authorised per item as Put/Update/Delete/ConditionCheck.
DYNAMODB_ACTIONS = [
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:Query",
]


def secret_parameters(environment: dict[str, str], stage: str) -> list[str]:
    """Parameter names the functions may read: the stage's own refs, and merchants' under one prefix."""
    names = sorted({v.removeprefix("ssm:") for v in environment.values() if v.startswith("ssm:")})
    return names + [f"/kabao/{stage}/merchants/*"]


def merge_template(stage: str, environment: dict[str, str]) -> dict[str, Any]:
    table = environment["KABAO_TABLE"]
    table_arn = {"Fn::GetAtt": ["KabaoTable", "Arn"]}
    parameter_arns = [
        {"Fn::Sub": f"arn:${{AWS::Partition}}:ssm:${{AWS::Region}}:${{AWS::AccountId}}:parameter{name}"}
        for name in secret_parameters(environment, stage)
    ]
    return {
        "Resources": {
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
                },
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
                                        "Resource": {"Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:*"},
                                    },
                                    {
                                        "Effect": "Allow",
                                        "Action": DYNAMODB_ACTIONS,
                                        "Resource": [table_arn, {"Fn::Sub": "${KabaoTable.Arn}/index/*"}],
                                    },
                                    {"Effect": "Allow", "Action": ["ssm:GetParameter"], "Resource": parameter_arns},
                                ],
                            },
                        }
                    ]
                }
            },
        },
        "Outputs": {"TableName": {"Value": {"Ref": "KabaoTable"}}},
    }
