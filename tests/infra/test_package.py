"""`make package`: the deployment zip imports on its own, and the template is valid, scoped and complete."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from mini_program_api.db import schema

ROOT = Path(__file__).resolve().parents[2]


def test_zip_holds_all_runtime_code_with_pyc_and_without_botocore(package: Path) -> None:
    names = zipfile.ZipFile(package / "deployment.zip").namelist()
    assert "app.py" in names
    for module in (
        "mini_program_api/money/ledger.py",
        "mini_program_api/routes/me.py",
        "functions/topup_reconciliation.py",
        "lambdas/member.py",
    ):
        assert module in names
        folder, file = module.rsplit("/", 1)
        assert f"{folder}/__pycache__/{file[:-3]}.cpython-311.pyc" in names
    assert not any(n.startswith(("botocore/", "tests/", "infra/")) for n in names)
    assert any(n.startswith("pynamodb/") for n in names) and any(n.startswith("wechatpayv3/") for n in names)


def test_zip_holds_the_console_where_its_routes_serve_it_from(package: Path) -> None:
    """routes/console.py serves <root>/console/dist: the same path in the zip as in the repository."""
    from mini_program_api.routes import console

    names = zipfile.ZipFile(package / "deployment.zip").namelist()
    dist = ROOT / "console" / "dist"
    built = sorted(
        str(p.relative_to(ROOT))
        for p in dist.rglob("*")  # not the build's own dot files (stamp, manifest)
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(dist).parts)
    )
    assert "/".join(console.DIST_PARTS) + "/index.html" in names
    assert any(n.startswith("console/dist/assets/") and n.endswith(".js") for n in names)
    assert sorted(n for n in names if n.startswith("console/")) == built


def test_every_handler_imports_from_the_unpacked_zip(package: Path, template: dict[str, Any], tmp_path: Path) -> None:
    """Each handler's module in a fresh interpreter of its own, as its Lambda imports it (an entry builds its app
    from blueprints that one process registers once: lambdas/audiences.py), and app.py too."""
    import botocore

    zipfile.ZipFile(package / "deployment.zip").extractall(tmp_path / "task")
    runtime = tmp_path / "runtime"  # what the Lambda Python runtime provides beside /var/task
    runtime.mkdir()
    (runtime / "botocore").symlink_to(Path(botocore.__file__).parent)
    handlers = [
        r["Properties"]["Handler"] for r in template["Resources"].values() if r["Type"] == "AWS::Serverless::Function"
    ]
    probe = (
        "import importlib, sys, json\n"
        f"sys.path[:0] = [{str(tmp_path / 'task')!r}, {str(runtime)!r}]\n"
        "handlers = json.loads(sys.argv[1])\n"
        "module = importlib.import_module(handlers[0].rsplit('.', 1)[0])\n"
        "for handler in handlers:\n"
        "    assert callable(getattr(module, handler.rsplit('.', 1)[1])), handler\n"
        "import pynamodb\n"
        "assert pynamodb.__file__.startswith(sys.path[0]) and module.__file__.startswith(sys.path[0])\n"
        "print(len(module.app.routes))\n"
    )
    env = {"PATH": os.environ["PATH"], "KABAO_STAGE": "prod"}
    by_module: dict[str, list[str]] = {"app": ["app.app"]}
    for handler in handlers:
        by_module.setdefault(handler.rsplit(".", 1)[0], []).append(handler)
    routes = {}
    for module, names in by_module.items():
        result = subprocess.run(
            [sys.executable, "-S", "-c", probe, json.dumps(names)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        routes[module] = int(result.stdout)
    entries = {"lambdas.member", "lambdas.wechat", "lambdas.till", "lambdas.console", "lambdas.jobs"}
    assert set(by_module) == {"app", *entries}
    assert routes["lambdas.jobs"] == 0 and len(by_module["lambdas.jobs"]) >= 10
    assert all(routes[f"lambdas.{name}"] >= 5 for name in ("member", "till", "console"))
    assert routes["lambdas.wechat"] == 3  # paths: WeChat Pay's two notify paths and the card events' one


def test_template_passes_cfn_lint(package: Path) -> None:
    result = subprocess.run(
        [str(Path(sys.executable).with_name("cfn-lint")), str(package / "sam.json")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_table_matches_the_code(template: dict[str, Any]) -> None:
    table = template["Resources"]["KabaoTable"]["Properties"]
    assert table["TableName"] == "kabao-prod" and table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["KeySchema"] == schema.KEY_SCHEMA
    assert table["GlobalSecondaryIndexes"] == schema.GLOBAL_SECONDARY_INDEXES
    assert table["LocalSecondaryIndexes"] == schema.LOCAL_SECONDARY_INDEXES
    assert table["TimeToLiveSpecification"] == {"AttributeName": schema.TTL_ATTRIBUTE, "Enabled": True}
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert table["DeletionProtectionEnabled"] is True
    assert template["Resources"]["KabaoTable"]["DeletionPolicy"] == "Retain"


def test_iam_is_scoped_to_the_table_and_the_stage_parameters(template: dict[str, Any]) -> None:
    statements = [
        s
        for p in template["Resources"]["DefaultRole"]["Properties"]["Policies"]
        for s in p["PolicyDocument"]["Statement"]
    ]
    for statement in statements:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert not any(a.endswith(":*") or a == "*" for a in actions), statement
        # X-Ray has no resource-level permissions; nothing else is granted on "*".
        assert statement["Resource"] != "*" or actions == ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    dynamodb = next(s for s in statements if any(a.startswith("dynamodb:") for a in s["Action"]))
    assert dynamodb["Resource"] == [{"Fn::GetAtt": ["KabaoTable", "Arn"]}, {"Fn::Sub": "${KabaoTable.Arn}/index/*"}]
    ssm = [s for s in statements if any(a.startswith("ssm:") for a in s["Action"])]
    assert [s["Action"] for s in ssm] == [["ssm:GetParameter"]]
    arn = "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter"
    assert ssm[0]["Resource"] == [
        {"Fn::Sub": f"{arn}{name}"}
        for name in ("/kabao/prod/jwt-secret", "/kabao/prod/pii-key", "/kabao/prod/merchants/*")
    ]


@pytest.mark.parametrize(
    "ref",
    [
        "ssm:/kabao/dev/jwt-secret",
        "ssm:/other/jwt-secret",
        "ssm:/kabao/prod/../x",
        "ssm:/kabao/prod/merchants/acme/app-secret",
        "ssm:/kabao/prod/*",
        "ssm:/KABAO/prod/jwt-secret",
        "ssm:/kabao/prod/jwt-secret/",
    ],
)
def test_a_stage_secret_outside_the_stages_own_parameters_is_a_build_error(ref: str) -> None:
    from infra.deploy.template import secret_parameters

    assert secret_parameters({"KABAO_JWT_SECRET": "ssm:/kabao/prod/jwt-secret"}, "prod") == [
        "/kabao/prod/jwt-secret",
        "/kabao/prod/merchants/*",
    ]
    with pytest.raises(ValueError):
        secret_parameters({"KABAO_JWT_SECRET": ref}, "prod")


def test_every_schedule_is_deployed_and_no_secret_is_plain(template: dict[str, Any]) -> None:
    from app import app

    functions = {
        k: r["Properties"] for k, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"
    }
    scheduled = {
        e.name: e.schedule_expression.to_string() for e in app.event_sources if hasattr(e, "schedule_expression")
    }
    deployed = {
        p["Handler"].rsplit(".", 1)[1]: e["Properties"]["Schedule"]
        for p in functions.values()
        for e in p.get("Events", {}).values()
        if e["Type"] == "Schedule"
    }
    assert "reconcile_topups" in scheduled and deployed == scheduled
    for properties in functions.values():
        variables = properties["Environment"]["Variables"]
        assert variables["KABAO_JWT_SECRET"].startswith("ssm:") and variables["KABAO_PII_KEY"].startswith("ssm:")
        assert not any(v.startswith("dev:") for v in variables.values())
    config = json.loads((ROOT / "chalice.json").read_text())
    for name in ("MemberAPIHandler", "WeChatAPIHandler", "TillAPIHandler", "ConsoleAPIHandler"):
        assert functions[name]["Environment"]["Variables"] == config["stages"]["prod"]["environment_variables"]


def test_every_function_runs_the_parameters_and_secrets_extension_of_its_region(template: dict[str, Any]) -> None:
    """`ssm:` references are read through the extension (platform/secrets.py): SAM's Globals give every function
    its layer, AWS's for chalice.json's region in that region's partition, and its settings; no function's own
    environment or layers replace them."""
    from infra.deploy.secrets_extension import ENVIRONMENT
    from mini_program_api.platform import secrets

    region = json.loads((ROOT / "chalice.json").read_text())["kabao"]["region"]
    assert region == "cn-north-1"
    function = template["Globals"]["Function"]
    assert function["Layers"] == [
        "arn:aws-cn:lambda:cn-north-1:287114880934:layer:AWS-Parameters-and-Secrets-Lambda-Extension:100"
    ]
    variables = function["Environment"]["Variables"]
    assert variables == ENVIRONMENT
    assert int(variables["SSM_PARAMETER_STORE_TTL"]) + secrets.MAX_AGE_SECONDS == secrets.ROTATION_SECONDS == 300
    assert int(variables["PARAMETERS_SECRETS_EXTENSION_HTTP_PORT"]) == secrets.DEFAULT_PORT
    assert 0 < int(variables["SSM_PARAMETER_STORE_TIMEOUT_MILLIS"]) < secrets.TIMEOUT_SECONDS * 1000
    functions = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::Serverless::Function"]
    assert len(functions) >= 2
    for properties in functions:
        assert "Layers" not in properties
        assert not set(properties["Environment"]["Variables"]) & set(ENVIRONMENT)


def test_every_function_and_the_api_are_traced(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    functions = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Serverless::Function"]
    assert len(functions) >= 2 and all(f["Tracing"] == "Active" for f in functions)
    assert resources["RestAPI"]["Properties"]["TracingEnabled"] is True


def test_alarms_watch_the_api_notifies_reconciliation_and_jobs_and_tell_the_topic(template: dict[str, Any]) -> None:
    from infra.deploy import alarms
    from mini_program_api.telemetry import metrics

    resources = template["Resources"]
    found = {k: r["Properties"] for k, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    watched = {(p.get("Namespace"), p.get("MetricName")) for p in found.values()}
    assert {
        ("AWS/ApiGateway", "5XXError"),
        (metrics.NAMESPACE, metrics.NOTIFY_FAILED),
        (metrics.NAMESPACE, metrics.RECONCILIATION_DUE),
        (metrics.NAMESPACE, metrics.JOB_FAILED),
    } <= watched
    for properties in found.values():
        assert properties["AlarmActions"] == {
            "Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]
        }
    assert template["Parameters"]["AlarmTopicArn"]["Default"] == ""
    api = next(p for p in found.values() if p.get("MetricName") == "5XXError")
    definition = resources["RestAPI"]["Properties"]["DefinitionBody"]
    assert {d["Name"]: d["Value"] for d in api["Dimensions"]} == {
        "ApiName": definition["info"]["title"],
        "Stage": resources["RestAPI"]["Properties"]["StageName"],
    }
    scheduled = {
        k
        for k, r in resources.items()
        if r["Type"] == "AWS::Serverless::Function"
        and r["Properties"].get("Events")  # a schedule or the table's stream
    }
    crashes = [m for k, p in found.items() if k.startswith("JobCrashesAlarm") for m in p["Metrics"]]
    assert all(len(p["Metrics"]) <= 10 for p in found.values() if "Metrics" in p)  # CloudWatch's metric-math limit
    assert (
        {m["MetricStat"]["Metric"]["Dimensions"][0]["Value"]["Ref"] for m in crashes if "MetricStat" in m}
        == scheduled
        == set(alarms.JOB_FUNCTIONS)
    )
    api_functions = {
        k
        for k, r in resources.items()
        if r["Type"] == "AWS::Serverless::Function"
        and r["Properties"]["Handler"].startswith("lambdas.")
        and r["Properties"]["Handler"].endswith(".app")
    }
    watched_api = {
        m["MetricStat"]["Metric"]["Dimensions"][0]["Value"]["Ref"]
        for m in found["ApiFunctionErrorsAlarm"]["Metrics"]
        if "MetricStat" in m
    }
    assert watched_api == api_functions == set(alarms.API_FUNCTIONS.values())


def test_every_event_function_has_a_timeout_of_its_own(template: dict[str, Any]) -> None:
    """A scheduled or stream function left on the stage's 10 s default stops taking work after 8 s: the nightly
    liability check and RFM scoring could not get past one merchant a night, the minute's issue jobs and wallet
    sweep did next to nothing."""
    from app import app

    config = json.loads((ROOT / "chalice.json").read_text())["stages"]["prod"]
    own = {name: f["lambda_timeout"] for name, f in config["lambda_functions"].items()}
    events = {e.name for e in app.event_sources}
    assert events <= set(own), f"no lambda_timeout of their own: {sorted(events - set(own))}"
    assert all(own[name] >= 60 for name in events)
    functions = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::Serverless::Function"]
    deployed = {
        p["Handler"].rsplit(".", 1)[1]: p["Timeout"] for p in functions if p["Handler"].startswith("lambdas.jobs.")
    }
    assert {name: deployed[name] for name in events} == {name: own[name] for name in events}


def test_the_api_stage_is_throttled_on_methods_the_api_serves(template: dict[str, Any]) -> None:
    """chalice.json's limits survive Chalice's merge, and each per-method limit names a resource and method of the
    API itself (API Gateway would apply a limit on a path it does not have to nothing). tests/infra/test_throttling.py
    holds the values and the limits of every anonymous route."""
    api = template["Resources"]["RestAPI"]["Properties"]
    stage_wide, *methods = api["MethodSettings"]
    assert (stage_wide["ResourcePath"], stage_wide["HttpMethod"]) == ("/*", "*")
    assert stage_wide["ThrottlingRateLimit"] > 0 and stage_wide["ThrottlingBurstLimit"] > 0
    assert len(methods) >= 5
    paths = api["DefinitionBody"]["paths"]
    for setting in methods:
        path = setting["ResourcePath"].removeprefix("/").replace("~1", "/")  # "/~1v1~1auth~1login": /v1/auth/login
        assert setting["HttpMethod"].lower() in paths[path], path


def test_one_bucket_keeps_imports_and_exports_each_prefix_granted_and_expiring(template: dict[str, Any]) -> None:
    config = json.loads((ROOT / "chalice.json").read_text())["stages"]["prod"]["environment_variables"]
    name = config["KABAO_EXPORT_BUCKET"]
    assert name == config["KABAO_IMPORT_BUCKET"]  # what the export store reads names the template's bucket
    buckets = {k: r for k, r in template["Resources"].items() if r["Type"] == "AWS::S3::Bucket"}
    assert list(buckets) == ["ImportBucket"] and buckets["ImportBucket"]["Properties"]["BucketName"] == name
    rules = buckets["ImportBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    assert sorted((r["Prefix"], r["ExpirationInDays"], r["Status"]) for r in rules) == [
        ("exports/", 7, "Enabled"),
        ("imports/", 7, "Enabled"),
    ]
    statements = [
        s
        for p in template["Resources"]["DefaultRole"]["Properties"]["Policies"]
        for s in p["PolicyDocument"]["Statement"]
    ]
    s3 = [s for s in statements if any(a.startswith("s3:") for a in s["Action"])]
    arn = f"arn:${{AWS::Partition}}:s3:::{name}"
    assert sorted((s["Resource"]["Fn::Sub"], tuple(s["Action"])) for s in s3) == [
        (f"{arn}/exports/*", ("s3:PutObject", "s3:GetObject")),
        (f"{arn}/imports/*", ("s3:PutObject", "s3:GetObject")),
    ]


@pytest.mark.parametrize(
    "environment",
    [
        {"KABAO_IMPORT_BUCKET": "kabao-files"},
        {"KABAO_EXPORT_BUCKET": "kabao-files"},
        {"KABAO_IMPORT_BUCKET": "kabao-files", "KABAO_EXPORT_BUCKET": "kabao-exports"},
    ],
)
def test_an_export_bucket_that_is_not_the_templates_bucket_is_a_build_error(environment: dict[str, str]) -> None:
    from infra.deploy.template import merge_template

    with pytest.raises(ValueError, match="same bucket"):
        merge_template("prod", {"KABAO_TABLE": "kabao-prod", **environment})
