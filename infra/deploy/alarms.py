"""CloudWatch alarms: the API's 5xx rate, its functions' failed invocations, refused WeChat Pay notifies, the
reconciliation backlog and job errors, notifying the SNS topic given as the stack parameter `AlarmTopicArn` (none:
alarms still show in the console). Business metrics are kabao's EMF metrics (mini_program_api/telemetry/metrics.py); the
alarms read their totals, under the `service` dimension alone.
"""

from __future__ import annotations

from typing import Any

from mini_program_api.telemetry import metrics
from mini_program_api.topup.orders import BATCH as RECONCILIATION_BATCH

ALARM_TOPIC_PARAMETER = "AlarmTopicArn"
API_NAME = "kabao"  # chalice.json app_name: Chalice's RestAPI is titled with it, and ApiName is that title
API_STAGE = "api"  # chalice.json api_gateway_stage
# The API's functions, one per audience (lambdas/audiences.py): template.by_audience names them so.
API_FUNCTIONS = {
    "member": "MemberAPIHandler",
    "wechat": "WeChatAPIHandler",
    "till": "TillAPIHandler",
    "console": "ConsoleAPIHandler",
}
# Failed invocations (a crash, a timeout, an entry that does not import) of the API's functions in 5 minutes: the
# API's 5xx rate misses a function that fails while the others carry most requests (the till's, the console's).
API_FUNCTION_ERRORS = 5
# Chalice's logical ids for the scheduled functions and the table's stream (its names, CamelCased): all of them run
# lambdas/jobs.py, so one module that fails to import stops every one, and a stream that crashes retries its batch
# until its records expire.
JOB_FUNCTIONS = (
    "ReconcileTopups",
    "CouponReminders",
    "PointsWarnings",
    "PointsExpiry",
    "BirthdayGifts",
    "DormantWakeups",
    "MonthlyPacks",
    "TierReviews",
    "IssueJobsRun",
    "MemberImportsRun",
    "MemberJobsRun",
    "WalletSweep",
    "WebhooksDeliver",
    "RfmScoring",
    "LiabilityCheck",
    "WalletStream",
)
# A metric-math alarm takes at most 10 metrics: the job functions are watched in groups of this many plus their sum.
JOBS_PER_ALARM = 9


def _actions() -> dict[str, Any]:
    notify = {"Fn::If": ["HasAlarmTopic", [{"Ref": ALARM_TOPIC_PARAMETER}], {"Ref": "AWS::NoValue"}]}
    return {"AlarmActions": notify, "OKActions": notify}


def _kabao_alarm(
    description: str,
    metric: str,
    statistic: str,
    period: int,
    periods: int,
    threshold: float,
    comparison: str = "GreaterThanOrEqualToThreshold",
) -> dict[str, Any]:
    return {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "AlarmDescription": description,
            "Namespace": metrics.NAMESPACE,
            "MetricName": metric,
            "Dimensions": [{"Name": "service", "Value": metrics.SERVICE}],
            "Statistic": statistic,
            "Period": period,
            "EvaluationPeriods": periods,
            "Threshold": threshold,
            "ComparisonOperator": comparison,
            "TreatMissingData": "notBreaching",
            **_actions(),
        },
    }


def alarms() -> dict[str, Any]:
    return {
        "Api5xxRateAlarm": {
            "Type": "AWS::CloudWatch::Alarm",
            "Properties": {
                "AlarmDescription": "More than 1% of API requests answered 5xx (a 5xx is a bug) for 10 minutes",
                "Namespace": "AWS/ApiGateway",
                "MetricName": "5XXError",
                "Dimensions": [{"Name": "ApiName", "Value": API_NAME}, {"Name": "Stage", "Value": API_STAGE}],
                "Statistic": "Average",
                "Period": 300,
                "EvaluationPeriods": 2,
                "Threshold": 0.01,
                "ComparisonOperator": "GreaterThanThreshold",
                "TreatMissingData": "notBreaching",
                **_actions(),
            },
        },
        "NotifyFailuresAlarm": _kabao_alarm(
            "WeChat Pay notifies refused (bad signature, mismatch): 5 or more in 5 minutes; WeChat keeps retrying "
            "a refused notify, and reconciliation credits payments only every 5 minutes",
            metrics.NOTIFY_FAILED,
            "Sum",
            300,
            1,
            5,
        ),
        "ReconciliationBacklogAlarm": _kabao_alarm(
            f"Top-up reconciliation found a full batch ({RECONCILIATION_BATCH} orders) due in every run for "
            "15 minutes: it is falling behind",
            metrics.RECONCILIATION_DUE,
            "Minimum",
            300,
            3,
            RECONCILIATION_BATCH,
        ),
        "JobItemFailuresAlarm": _kabao_alarm(
            "A scheduled job failed on an item (deferred with backoff; see the job's log line for which)",
            metrics.JOB_FAILED,
            "Sum",
            3600,
            1,
            1,
        ),
        "ApiFunctionErrorsAlarm": _errors_alarm(
            f"{API_FUNCTION_ERRORS} or more invocations of the API's functions failed (crashed, timed out or did not "
            "start) in 5 minutes: " + ", ".join(API_FUNCTIONS.values()),
            "API function invocation errors",
            tuple(API_FUNCTIONS.values()),
            API_FUNCTION_ERRORS,
        ),
        **_job_crash_alarms(),
    }


def _errors_alarm(description: str, label: str, functions: tuple[str, ...], threshold: int) -> dict[str, Any]:
    """The sum of these functions' Lambda `Errors` over 5 minutes (metric math: at most 9 functions and their sum)."""
    errors: list[dict[str, Any]] = [
        {
            "Id": f"m{i}",
            "ReturnData": False,
            "MetricStat": {
                "Metric": {
                    "Namespace": "AWS/Lambda",
                    "MetricName": "Errors",
                    "Dimensions": [{"Name": "FunctionName", "Value": {"Ref": name}}],
                },
                "Period": 300,
                "Stat": "Sum",
            },
        }
        for i, name in enumerate(functions)
    ]
    return {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "AlarmDescription": description,
            "Metrics": [
                *errors,
                {
                    "Id": "errors",
                    "Label": label,
                    "ReturnData": True,
                    "Expression": f"SUM([{','.join(f'm{i}' for i in range(len(functions)))}])",
                },
            ],
            "EvaluationPeriods": 1,
            "Threshold": threshold,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "TreatMissingData": "notBreaching",
            **_actions(),
        },
    }


def _job_crash_alarms() -> dict[str, Any]:
    """An invocation of a scheduled job or of the stream that failed (crashed or timed out), one alarm per group."""
    found: dict[str, Any] = {}
    for start in range(0, len(JOB_FUNCTIONS), JOBS_PER_ALARM):
        group = JOB_FUNCTIONS[start : start + JOBS_PER_ALARM]
        found[f"JobCrashesAlarm{start // JOBS_PER_ALARM or ''}"] = _errors_alarm(
            "A scheduled job's or the table stream's Lambda invocation failed (crashed or timed out): "
            + ", ".join(group),
            "job invocation errors",
            group,
            1,
        )
    return found
