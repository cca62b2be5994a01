"""Every test runs against real HTTP on loopback: the serialized local DynamoDB and the WeChat sandbox.

Both servers start before any product module is imported, because the product
reads its endpoints from the environment once per process (as a Lambda does).
Tests are isolated by giving each its own merchant, not its own table.
"""
from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest

from infra.local_dynamodb import dynamodb_app
from infra.loopback import LoopbackServer
from infra.wechat_sandbox import WeChatSandbox

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_servers: dict[str, Any] = {}


def pytest_configure(config: pytest.Config) -> None:
    ddb = LoopbackServer(dynamodb_app()).start()
    wechat = WeChatSandbox()
    sandbox = LoopbackServer(wechat).start()
    _servers.update(ddb=ddb, sandbox=sandbox, wechat=wechat)
    os.environ.update(
        KABAO_STAGE="test",
        KABAO_TABLE="kabao-test",
        AWS_DEFAULT_REGION="cn-north-1",
        AWS_REGION="cn-north-1",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_EC2_METADATA_DISABLED="true",
        DYNAMODB_ENDPOINT=ddb.url,
        WECHAT_API_BASE=sandbox.url,
        WECHATPAY_API_BASE=sandbox.url,
        KABAO_JWT_SECRET="dev:test-only-jwt-secret-0123456789abcdef",
        KABAO_PII_KEY="dev:test-only-pii-key",
    )
    os.environ.pop("AWS_PROFILE", None)
    import boto3

    from mini_program_api.db.schema import create_table

    create_table(boto3.client("dynamodb", endpoint_url=ddb.url), "kabao-test")


def pytest_unconfigure(config: pytest.Config) -> None:
    for name in ("ddb", "sandbox"):
        _servers[name].stop()


@pytest.fixture
def ddb_endpoint() -> str:
    return _servers["ddb"].url


@pytest.fixture
def sandbox() -> Any:
    return _servers["wechat"]


@pytest.fixture
def clock() -> Iterator[Any]:
    """A movable clock: `clock.set(datetime)`, `clock.advance(seconds=...)`."""
    from datetime import timedelta

    from mini_program_api import clock as product_clock

    class Clock:
        now = datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc)  # 10:00 in Shanghai

        def set(self, at: datetime) -> None:
            self.now = at

        def advance(self, **delta: float) -> None:
            self.now = self.now + timedelta(**delta)

    fake = Clock()
    product_clock.set_clock(lambda: fake.now)
    yield fake
    product_clock.set_clock(None)


@pytest.fixture
def merchant(sandbox: Any) -> Any:
    """A fresh merchant with its own appid, registered in the WeChat sandbox."""
    from mini_program_api import merchants

    suffix = uuid.uuid4().hex[:12]
    secret = f"secret-{suffix}"
    sandbox.apps[f"wx{suffix}"] = secret
    return merchants.create(
        merchants.MerchantSpec(
            merchant_id=f"m-{suffix}",
            name="Test Coffee",
            appid=f"wx{suffix}",
            app_secret_ref=f"dev:{secret}",
            tiers=[("normal", "普通", 0), ("silver", "银卡", 1000), ("gold", "金卡", 5000)],
            topup_plans=[("p300", 30000, 5000), ("p500", 50000, 10000)],
        )
    )


class Api:
    """JSON over chalice.test.Client: `status, body = api.post(path, body, token=...)`."""

    def __init__(self) -> None:
        from chalice.test import Client

        from app import app

        self._client = Client(app, stage_name="test", project_dir=ROOT)

    def call(
        self, method: str, path: str, body: Any = None, token: str | None = None, headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> tuple[int, Any]:
        all_headers = {"content-type": "application/json", **(headers or {})}
        if token:
            all_headers["authorization"] = f"Bearer {token}"
        payload = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
        response = self._client.http.request(method, path, headers=all_headers, body=payload)
        return response.status_code, json.loads(response.body) if response.body else None

    def get(self, path: str, **kw: Any) -> tuple[int, Any]:
        return self.call("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
        return self.call("POST", path, body, **kw)

    def login(self, merchant: Any, openid: str | None = None) -> dict[str, Any]:
        openid = openid or f"o-{uuid.uuid4().hex[:16]}"
        status, body = self.post(
            "/v1/auth/login", {"appid": merchant.appid, "code": f"test:{openid}:{uuid.uuid4().hex[:8]}"}
        )
        assert status == 200, body
        return body

    @staticmethod
    def token(merchant: Any, member_id: str) -> str:
        """A fresh member token at the current (possibly moved) clock."""
        from mini_program_api import auth

        return auth.issue(auth.Principal(merchant.merchant_id, member_id, "member"))[0]

    def member_with_card(self, merchant: Any, phone: str | None = None) -> dict[str, Any]:
        """Log in, bind a phone, open the card; returns the login body with the card opened."""
        session = self.login(merchant)
        token = session["token"]
        phone = phone or f"139{uuid.uuid4().int % 10**8:08d}"
        status, body = self.post("/v1/me/phone", {"code": f"phone:{phone}:{uuid.uuid4().hex[:6]}"}, token=token)
        assert status == 200, body
        status, body = self.post("/v1/me/card", {"agreed_terms_version": merchant.terms_version}, token=token)
        assert status == 200, body
        return {**session, "member": body}


@pytest.fixture(scope="session")
def api() -> Api:
    return Api()
