"""What `chalice package` does not generate: the table, scoped IAM, the secrets' parameter paths and the
Parameters and Secrets extension's layer and settings on every function (`secrets_extension.py`),
API Gateway's own answers (unknown routes, throttling, timeouts) in kabao's error shape, the stage's
throttling (`throttling`, from chalice.json: docs/deploy.md says how to size it), and the
alarms (`alarms.py`). X-Ray tracing is `"xray": true` in chalice.json (Tracing: Active on every
function); the API stage's tracing and the role's X-Ray rights are added here.

Merged into Chalice's SAM template (`chalice package --merge-template`). Built from
`db/schema.py` so the deployed table always has the keys and indexes the code uses.

Then `by_audience` rewrites what the merge cannot: Chalice writes one function for every route (`APIHandler`, handler
`app.app`); kabao runs one per audience (lambdas/audiences.py), each path's integration pointing at its own.
"""

from __future__ import annotations

import copy
import json
from typing import TYPE_CHECKING, Any

from mini_program_api.db.schema import (
    ATTRIBUTE_DEFINITIONS,
    GLOBAL_SECONDARY_INDEXES,
    KEY_SCHEMA,
    LOCAL_SECONDARY_INDEXES,
    STREAM_SPECIFICATION,
    TTL_ATTRIBUTE,
)
from mini_program_api.routes.gateway import GATEWAY_RESPONSES

from .alarms import ALARM_TOPIC_PARAMETER, API_FUNCTIONS, alarms
from .secrets_extension import globals_for_functions

if TYPE_CHECKING:
    from chalice import Chalice

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


def anonymous_routes() -> set[str]:
    """`"POST /v1/auth/login"`, ...: every route the app declares without a role, which anyone may call."""
    import app  # noqa: F401  (registers every route)
    from mini_program_api.routes.endpoint import ROUTES

    return {f"{route.method} {route.path}" for route in ROUTES if not route.role}


def _limit(name: str, limit: Any) -> tuple[float, int]:
    try:
        rate, burst = limit["rate"], limit["burst"]
    except (TypeError, KeyError):
        raise ValueError(f"throttle {name}: give both rate and burst") from None
    if not (isinstance(rate, int | float) and rate > 0 and isinstance(burst, int) and burst > 0):
        raise ValueError(f"throttle {name}: rate (requests/s) and burst (requests) must be positive numbers")
    return float(rate), burst


def throttling(throttle: Any, anonymous: set[str]) -> list[dict[str, Any]]:
    """API Gateway's MethodSettings for the stage: its rate and burst on every method (`/*`, `*`), and a
    limit of its own on each anonymous route, from chalice.json's `stages.<stage>.kabao.throttle`:

        {"rate": 1000, "burst": 2000,
         "anonymous": {"rate": 100, "burst": 200},                  # each anonymous route, unless listed
         "routes": {"POST /v1/staff/login": {"rate": 5, "burst": 10}}}

    A request over a limit never reaches a Lambda: API Gateway answers 429 (THROTTLED, in kabao's error
    shape: GATEWAY_RESPONSES), so a flood costs a bounded bill. No limits at all is a build error (an
    unbounded bill), and so is a listed route the app does not serve anonymously (a typo would leave the
    route it meant on the stage's limit alone) or one above the stage's own limit."""
    if not isinstance(throttle, dict):
        raise ValueError("the stage has no throttle in chalice.json (stages.<stage>.kabao.throttle): docs/deploy.md")
    rate, burst = _limit("of the stage", throttle)
    default = throttle.get("anonymous")
    routes = throttle.get("routes", {})
    unknown = sorted(set(routes) - anonymous)
    if unknown:
        raise ValueError(f"throttle routes the app does not serve without a role: {', '.join(unknown)}")
    settings = [{"ResourcePath": "/*", "HttpMethod": "*", "ThrottlingRateLimit": rate, "ThrottlingBurstLimit": burst}]
    for route in sorted(anonymous):
        if route not in routes and default is None:
            raise ValueError(f"throttle: {route} is anonymous and has no limit (give `anonymous` or list it)")
        route_rate, route_burst = _limit(route, routes.get(route, default))
        if route_rate > rate or route_burst > burst:
            raise ValueError(f"throttle {route}: above the stage's own limit")
        method, path = route.split(" ", 1)
        settings.append(
            {
                # MethodSettings name a resource with its slashes as ~1 (CloudFormation's rule).
                "ResourcePath": "/" + path.replace("/", "~1"),
                "HttpMethod": method,
                "ThrottlingRateLimit": route_rate,
                "ThrottlingBurstLimit": route_burst,
            }
        )
    return settings


FILES_DAYS = 7  # an import's file and an export's parts and file are kept this long, then S3 deletes them


def import_bucket(name: str, public_url: str) -> dict[str, Any]:
    """The members' files, one private bucket: imports (member_import/files.py, under `imports/`) the console PUTs
    with a presigned URL (CORS from the API's own origin, where the console is served) and the import jobs read
    back; exports (member_care/export_files.py, under `exports/`) the export job writes and the admin downloads
    through a presigned GET (a navigation: no CORS). Each prefix expires after `FILES_DAYS`."""
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
                    "Rules": [
                        {
                            "Id": f"expire-{prefix}",
                            "Status": "Enabled",
                            "Prefix": f"{prefix}/",
                            "ExpirationInDays": FILES_DAYS,
                        }
                        for prefix in ("imports", "exports")
                    ]
                },
                "CorsConfiguration": {
                    "CorsRules": [
                        {
                            "AllowedMethods": ["PUT"],
                            "AllowedOrigins": [public_url or "*"],
                            "AllowedHeaders": ["Content-Type", "If-None-Match"],  # both signed (write once)
                            "MaxAge": 3600,
                        }
                    ]
                },
            },
        }
    }


def import_bucket_access(name: str) -> list[dict[str, Any]]:
    """Per prefix, what its code does: imports presign a PUT (the signer's s3:PutObject) and read the file back
    (GetObject, which HEAD uses too); exports put their parts and file and presign the GET that downloads it."""
    return [
        {
            "Effect": "Allow",
            "Action": ["s3:PutObject", "s3:GetObject"],
            "Resource": {"Fn::Sub": f"arn:${{AWS::Partition}}:s3:::{name}/{prefix}/*"},
        }
        for prefix in ("imports", "exports")
    ]


def files_bucket(environment: dict[str, str]) -> str | None:
    """The stage's bucket for member files: `KABAO_IMPORT_BUCKET`, and `KABAO_EXPORT_BUCKET` (what the export
    store reads) must name the same one, which the template creates and grants; a stage with one and not the
    other, or two names, is a build error rather than exports failing in the cloud."""
    imports, exports = environment.get("KABAO_IMPORT_BUCKET"), environment.get("KABAO_EXPORT_BUCKET")
    if imports != exports:
        raise ValueError(
            "KABAO_IMPORT_BUCKET and KABAO_EXPORT_BUCKET must name the same bucket (imports/ and exports/ in it)"
        )
    return imports or None


def merge_template(
    stage: str,
    environment: dict[str, str],
    throttle: Any = None,
    anonymous: set[str] | None = None,
    region: str | None = None,
    extension_layer: Any = None,
) -> dict[str, Any]:
    """The template merged into Chalice's; `throttle` is the stage's chalice.json `kabao.throttle` (None: no
    MethodSettings, for the callers that only read the rest), `anonymous` the app's routes without a role,
    `region` the stack's (chalice.json `kabao.region`: the extension's layer for it on every function; None: no
    layer, for the callers that only read the rest) and `extension_layer` the stage's
    `kabao.secrets_extension_layer` (a layer ARN that replaces the table's)."""
    table = environment["KABAO_TABLE"]
    table_arn = {"Fn::GetAtt": ["KabaoTable", "Arn"]}
    parameter_arns = [
        {"Fn::Sub": f"arn:${{AWS::Partition}}:ssm:${{AWS::Region}}:${{AWS::AccountId}}:parameter{name}"}
        for name in secret_parameters(environment, stage)
    ]
    bucket = files_bucket(environment)
    return {
        **({"Globals": globals_for_functions(region, extension_layer)} if region is not None else {}),
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
            "RestAPI": {
                "Properties": {
                    "TracingEnabled": True,
                    **(
                        {"MethodSettings": throttling(throttle, anonymous_routes() if anonymous is None else anonymous)}
                        if throttle is not None
                        else {}
                    ),
                }
            },
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
                                    *(import_bucket_access(bucket) if bucket else []),
                                ],
                            },
                        }
                    ]
                }
            },
        },
        "Outputs": {"TableName": {"Value": {"Ref": "KabaoTable"}}},
    }


def served(app: Chalice) -> dict[str, str]:
    """`"GET /v1/me"` -> the audience whose function serves it, for every route of `app` (app.py's union): the
    audience of the module that declares the route (lambdas/audiences.py; a module in no audience or in two is a
    build error)."""
    from lambdas.audiences import API, audience_of

    found = {
        f"{method} {path}": audience_of(entry.view_function.__module__)
        for path, methods in app.routes.items()
        for method, entry in methods.items()
    }
    stray = sorted(route for route, audience in found.items() if audience not in API)
    if stray:
        raise ValueError(f"routes declared by an audience API Gateway does not call: {', '.join(stray)}")
    return found


def by_audience(sam: dict[str, Any], routes: dict[str, str], jobs: set[str]) -> dict[str, Any]:
    """Chalice's template with one function per API audience in place of `APIHandler` (the same properties, handler
    `lambdas.<audience>.app`, an invoke permission each), every path's integration pointing at the function of its
    audience (`routes`, from `served`), and every scheduled or stream function's handler at `lambdas.jobs.<name>`
    (`jobs`: the names lambdas/jobs.py serves). A path of the API that `routes` does not name, a route of `routes`
    that the API does not have, or an event function lambdas/jobs.py does not serve is a build error."""
    unnamed = sorted(set(routes.values()) - set(API_FUNCTIONS))
    if unnamed:
        raise ValueError(f"API audiences without a function in alarms.API_FUNCTIONS: {', '.join(unnamed)}")
    sam = copy.deepcopy(sam)
    resources = sam["Resources"]
    handler, permission = resources.pop("APIHandler"), resources.pop("APIHandlerInvokePermission")
    for audience, name in API_FUNCTIONS.items():
        function = copy.deepcopy(handler)
        function["Properties"]["Handler"] = f"lambdas.{audience}.app"
        resources[name] = function
        allowed = copy.deepcopy(permission)
        allowed["Properties"]["FunctionName"] = {"Ref": name}
        resources[f"{name}InvokePermission"] = allowed
    api = "${APIHandler.Arn}"
    unserved = set(routes)
    for path, operations in resources["RestAPI"]["Properties"]["DefinitionBody"]["paths"].items():
        for method, operation in operations.items():
            route = f"{method.upper()} {path}"
            if _preflight(operation):
                continue
            if route not in routes:
                raise ValueError(f"{route}: no function serves it (lambdas/audiences.py)")
            uri = operation["x-amazon-apigateway-integration"]["uri"]
            if api not in uri["Fn::Sub"]:
                raise ValueError(f"{route}: integration {uri} is not Chalice's APIHandler")
            uri["Fn::Sub"] = uri["Fn::Sub"].replace(api, "${" + API_FUNCTIONS[routes[route]] + ".Arn}")
            unserved.discard(route)
    if unserved:
        raise ValueError(f"routes of app.py missing from the API: {', '.join(sorted(unserved))}")
    from chalice.utils import to_cfn_resource_name

    # Chalice names an event function's resource after its schedule's or stream's `name=` (the key lambdas/jobs.py
    # serves it by), and its Handler after the decorated function, which may be called otherwise.
    named = {to_cfn_resource_name(name): name for name in jobs}
    for logical_id, resource in resources.items():
        properties = resource.get("Properties", {})
        if resource.get("Type") == "AWS::Serverless::Function" and "Events" in properties:
            if logical_id not in named:
                raise ValueError(f"{logical_id} ({properties['Handler']}): lambdas/jobs.py does not serve it")
            properties["Handler"] = f"lambdas.jobs.{named[logical_id]}"
    outputs = sam.get("Outputs", {})
    outputs.pop("APIHandlerName", None)
    outputs.pop("APIHandlerArn", None)
    for name in API_FUNCTIONS.values():
        outputs[f"{name}Name"] = {"Value": {"Ref": name}}
        outputs[f"{name}Arn"] = {"Value": {"Fn::GetAtt": [name, "Arn"]}}
    return sam


def _preflight(operation: dict[str, Any]) -> bool:
    """A `cors=True` route's OPTIONS: Chalice's mock integration, which API Gateway answers itself, no function."""
    return operation["x-amazon-apigateway-integration"].get("type") == "mock"


def integrations(sam: dict[str, Any]) -> dict[str, str]:
    """`"GET /v1/me"` -> the logical id of the function a built template's API Gateway integration invokes, for every
    operation a function serves."""
    found = {}
    for path, operations in sam["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]["paths"].items():
        for method, operation in operations.items():
            if not _preflight(operation):
                uri = operation["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"]
                found[f"{method.upper()} {path}"] = uri.split("/functions/${", 1)[1].split(".Arn}", 1)[0]
    return found


def scheduled(app: Chalice) -> set[str]:
    """The names of `app`'s scheduled and stream functions, each of which the jobs' audience must declare."""
    from lambdas.audiences import audience_of

    strays = sorted(e.name for e in app.event_sources if audience_of(e.handler_string.rsplit(".", 1)[0]) != "jobs")
    if strays:
        raise ValueError(f"event functions outside the jobs' audience: {', '.join(strays)}")
    return {e.name for e in app.event_sources}
