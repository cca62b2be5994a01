"""The whole local stack inside one process, for the tests and the benchmarks.

The product reads its endpoints from the environment once per process (as a
Lambda container does), so `start` must run before any product module is
imported. `make dev` runs the same servers as separate processes instead.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from .dynamodb import DynamoDBLocal
from .loopback import LoopbackServer, free_port
from .parameters_extension import ParametersExtension
from .wechat_sandbox import WeChatSandbox

# The stage's own secrets, as `dev:` values and as the parameters the extension's stand-in serves under the stage's
# `ssm:` names: one value either way, so a token issued under one reference verifies under the other.
JWT_SECRET = "LOCAL-DEV-ONLY-jwt-secret-0123456789abcdef"
PII_KEY = "LOCAL-DEV-ONLY-pii-key"
# Where the product finds the extension, and the session token it sends it (Lambda sets the token in AWS).
EXTENSION_KEYS = ("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", "AWS_SESSION_TOKEN")


@dataclass
class Stack:
    ddb: DynamoDBLocal | SharedDynamoDB
    sandbox_server: LoopbackServer
    wechat: WeChatSandbox
    api: Any  # chalice.local.LocalDevServer
    api_url: str
    table: str
    extension_server: LoopbackServer
    parameters: ParametersExtension  # the Parameters and Secrets extension's stand-in, with the stage's parameters
    streaming: bool = False

    def reset_table(self, new_stream: bool = False) -> None:
        """Empty the table, so that scheduled jobs (which scan every merchant's due work) see only the
        running test's items.

        DynamoDB Local slows down with every table it drops and creates (300 resets made a concurrent
        test 1.6x slower), and a whole run's records on one stream still left the last tests meeting
        read timeouts: so the table has no stream and is emptied item by item. `new_stream` is for a test
        that reads the stream: a new table with a new, empty stream, replaced by a stream-less one after."""
        if new_stream or self.streaming:
            from mini_program_api.db.schema import create_table

            self._admin_client.delete_table(TableName=self.table)
            create_table(self._admin_client, self.table, stream=new_stream)
            self.streaming = new_stream
            return
        client = self._admin_client
        pages = client.get_paginator("scan").paginate(
            TableName=self.table, ConsistentRead=True, ProjectionExpression="pk, sk"
        )
        keys = [item for page in pages for item in page["Items"]]
        for start in range(0, len(keys), 25):
            pending = {self.table: [{"DeleteRequest": {"Key": key}} for key in keys[start : start + 25]]}
            while pending:
                pending = client.batch_write_item(RequestItems=pending)["UnprocessedItems"]

    @cached_property
    def _admin_client(self) -> Any:
        """One boto3 client for the resets: building one costs more than the reset itself."""
        import boto3

        return boto3.client("dynamodb", endpoint_url=self.ddb.url)

    def stop(self) -> None:
        self.api.shutdown()
        self.api.server.server_close()
        self.ddb.stop()
        self.sandbox_server.stop()
        self.extension_server.stop()


def environment(ddb_url: str, sandbox_url: str, api_url: str) -> dict[str, str]:
    """What points the product at the local stack (and never at AWS or WeChat)."""
    return {
        "DYNAMODB_ENDPOINT": ddb_url,
        "WECHAT_API_BASE": sandbox_url,
        "WECHATPAY_API_BASE": sandbox_url,
        "KABAO_PUBLIC_URL": api_url,
        "AWS_DEFAULT_REGION": "cn-north-1",
        "AWS_REGION": "cn-north-1",
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def stage_parameters(stage: str) -> dict[str, str]:
    """What the extension's stand-in holds for a stage: its JWT secret and PII key under their `ssm:` names."""
    return {f"/kabao/{stage}/jwt-secret": JWT_SECRET, f"/kabao/{stage}/pii-key": PII_KEY}


def session_token() -> str:
    """A session token for a local stack's extension stand-in, which takes only it (Lambda sets one in AWS)."""
    import secrets

    return f"local-{secrets.token_hex(8)}"


def extension_environment(port: int, token: str) -> dict[str, str]:
    """Where the product finds the extension's stand-in, and the session token it sends it, as Lambda sets them."""
    return dict(zip(EXTENSION_KEYS, (str(port), token), strict=True))


def secret_environment(stage: str, extension: dict[str, str]) -> dict[str, str]:
    """The stage's secret references, `ssm:` ones read through the extension's stand-in as AWS reads them through
    the extension, and where it answers (`extension`: `extension_environment`'s)."""
    jwt, pii = (f"ssm:{name}" for name in stage_parameters(stage))
    return {"KABAO_JWT_SECRET": jwt, "KABAO_PII_KEY": pii, **extension}


@dataclass(frozen=True)
class SharedDynamoDB:
    """A DynamoDB Local another process started and stops (the test run's, shared by its workers)."""

    url: str

    def stop(self) -> None:
        pass


@dataclass(frozen=True)
class Plan:
    """Where the stack will listen, chosen (and put in the environment) before any product module reads it."""

    ddb_port: int
    sandbox_port: int
    api_port: int
    table: str
    shared_ddb: str | None = None  # a DynamoDB Local already running: this stack uses its own table there
    extension_port: int = 0
    token: str = ""  # the session token the extension's stand-in takes (AWS_SESSION_TOKEN)
    stage: str = "test"


def plan(stage: str = "test", table: str = "kabao-test", shared_ddb: str | None = None) -> Plan:
    """Choose free loopback ports and point the product at them, starting nothing: a test run that needs no
    stack (tests/unit) then starts none, and one that does starts it on first use (`start(plan)`). With
    `shared_ddb` (a running DynamoDB Local's URL) only the sandbox and the API are this stack's own.

    The stage's secrets are `ssm:` references read through the extension's stand-in (which every stack runs), as
    in AWS, so every signed-in test crosses the code production runs."""
    chosen = Plan(free_port(), free_port(), free_port(), table, shared_ddb, free_port(), session_token(), stage)
    host = "http://127.0.0.1"
    os.environ.update(
        environment(
            shared_ddb or f"{host}:{chosen.ddb_port}", f"{host}:{chosen.sandbox_port}", f"{host}:{chosen.api_port}"
        ),
        KABAO_STAGE=stage,
        KABAO_TABLE=table,
        **secret_environment(stage, extension_environment(chosen.extension_port, chosen.token)),
    )
    os.environ.pop("AWS_PROFILE", None)
    return chosen


def start(stage: str = "test", table: str = "kabao-test", planned: Plan | None = None) -> Stack:
    """DynamoDB Local, the WeChat sandbox and the API, on the planned ports (or newly planned ones)."""
    chosen = planned or plan(stage, table)
    ddb: DynamoDBLocal | SharedDynamoDB
    if chosen.shared_ddb:
        ddb = SharedDynamoDB(chosen.shared_ddb)
    else:
        ddb = DynamoDBLocal(chosen.ddb_port)
        if ddb.port != chosen.ddb_port:  # taken since it was planned: the product would talk to the wrong port
            ddb.stop()
            raise RuntimeError(f"port {chosen.ddb_port} was taken before DynamoDB Local could listen on it")
    wechat = WeChatSandbox()
    sandbox = LoopbackServer(wechat, port=chosen.sandbox_port).start()
    parameters = ParametersExtension(chosen.token, stage_parameters(chosen.stage))
    extension = LoopbackServer(parameters, port=chosen.extension_port).start()
    import boto3

    from mini_program_api.db.schema import create_table

    create_table(boto3.client("dynamodb", endpoint_url=ddb.url), chosen.table, stream=False)
    from .api import serve_in_thread

    api = serve_in_thread("127.0.0.1", chosen.api_port)
    return Stack(ddb, sandbox, wechat, api, f"http://127.0.0.1:{chosen.api_port}", chosen.table, extension, parameters)
