"""What every test shares: the clock, and the local stack for the tests that need it.

Four suites: `tests/unit` (pure rules: no stack, seconds), `tests/integration` (the product in-process through
`chalice.test.Client`, plus real HTTP to the API on loopback where the edge is HTTP itself, against DynamoDB
Local and the WeChat sandbox), `tests/e2e` (whole journeys: the typed client, the dev stack, the soak, the
contract fuzz, the browser) and `tests/infra` (the package, the template, the contract file, onboarding, DynamoDB
Local's premises, the import rules).

The product reads its endpoints from the environment once per process, so the stack's ports are chosen and put
in the environment before any test module is imported (`local_stack.plan`); its servers start on the first
test that asks for them (`stack`), so a run of `tests/unit` alone starts none. Stack tests are isolated by
merchant, and each starts on an empty table (`Stack.reset_table`) because scheduled jobs read every merchant's
due work: the suites that use the stack turn `on_the_stack` on for every test (their conftest.py).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from infra.local import stack as local_stack
from tests import timeline

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_planned: list[local_stack.Plan] = []
_stack: list[local_stack.Stack] = []
_shared: list[Any] = []  # the DynamoDB Local the workers share (KABAO_TEST_SHARED_DDB=1), started by the controller


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "new_stream: start the test on a new table, and so a new stream")
    timeline.travel_to_epoch()
    worker = getattr(config, "workerinput", {}).get("workerid")
    if getattr(config.option, "numprocesses", None) and worker is None:
        # pytest-xdist's controller runs no test: each worker has its own stack, on its own DynamoDB Local or,
        # with KABAO_TEST_SHARED_DDB=1, on a table of its own in one DynamoDB Local started here.
        if os.environ.get("KABAO_TEST_SHARED_DDB") == "1":
            from infra.local.dynamodb import DynamoDBLocal

            _shared.append(DynamoDBLocal())
            os.environ["KABAO_TEST_DYNAMODB"] = _shared[0].url
        return
    # Hundreds of tests log staff in: scrypt at N=2^14 here, not production's 2^17 (0.5 s and 128 MiB each);
    # tests/integration/test_passwords.py runs the production factor. Only local stages may lower it (passwords.py).
    os.environ.setdefault("KABAO_SCRYPT_LOG2N", "14")
    shared = os.environ.get("KABAO_TEST_DYNAMODB")
    _planned.append(local_stack.plan(table=f"kabao-test-{worker or 'main'}", shared_ddb=shared))


def pytest_unconfigure(config: pytest.Config) -> None:
    record = os.environ.get("KABAO_RECORD_UNDECLARED")
    if record:
        from mini_program_api.routes import endpoint

        with open(record, "w") as f:
            json.dump(sorted(endpoint.UNDECLARED), f)
    for server in [*_stack, *_shared]:
        server.stop()


@pytest.fixture(scope="session")
def stack() -> local_stack.Stack:
    """The local stack, started on the planned ports the first time a test needs it."""
    if not _stack:
        _stack.append(local_stack.start(planned=_planned[0]))
        # Logging is set up by a container's first request (telemetry/logs.py), after the local server has
        # set up its own; set up here, every test sees the same loggers whichever test runs first, so caplog
        # and the log-line tests read them the same in a file or alone.
        from mini_program_api.telemetry import logs

        logs.logger()
    return _stack[0]


@pytest.fixture
def on_the_stack(request: pytest.FixtureRequest, stack: local_stack.Stack) -> Iterator[None]:
    """Each test starts with an empty table, so a job under test meets only that test's members
    (`@pytest.mark.new_stream` tests also start on a new table stream: they read it from its start); and an
    error code a route answers must be one it declares (`endpoint(errors=...)`): the spec lists them."""
    from mini_program_api.routes import endpoint

    stack.reset_table(new_stream=request.node.get_closest_marker("new_stream") is not None)
    before = set(endpoint.UNDECLARED)
    yield
    new = endpoint.UNDECLARED - before
    if new and not os.environ.get("KABAO_RECORD_UNDECLARED"):
        pytest.fail(
            "undeclared error codes (add them to the route's errors=...): "
            + ", ".join(f"{m} {p}: {c}" for m, p, c in sorted(new))
        )


@pytest.fixture
def ddb_endpoint(stack: local_stack.Stack) -> str:
    return stack.ddb.url


@pytest.fixture
def api_url(stack: local_stack.Stack) -> str:
    """The app served over real HTTP on loopback (as `chalice local` serves it)."""
    return stack.api_url


@pytest.fixture
def sandbox(stack: local_stack.Stack) -> Any:
    return stack.wechat


@pytest.fixture
def clock() -> Iterator[timeline.Clock]:
    """A movable clock that starts at the real now (`KABAO_TEST_EPOCH` shifts it): `clock.set(datetime)`,
    `clock.advance(seconds=...)`, `clock.start`. Never a fixed day: whatever a fixture made on the real clock
    before this one started is then in the clock's past, as it would be in production."""
    from mini_program_api.platform import clock as product_clock

    fake = timeline.Clock()
    product_clock.set_clock(lambda: fake.now)
    yield fake
    product_clock.set_clock(None)


@pytest.fixture(scope="session")
def merchant_pay_keys() -> Any:
    """One merchant API key pair for the whole run (RSA generation is the slow part); mchids differ."""
    from infra.local.devkeys import merchant_keys

    return merchant_keys("0")


@pytest.fixture
def make_merchant(sandbox: Any, merchant_pay_keys: Any) -> Any:
    """Create a fresh merchant, registered in the WeChat and WeChat Pay sandboxes.

    `sign_with` picks how WeChat Pay signs to it: "platform" (certificates) or "public_key".
    """
    from mini_program_api.merchants import configuration

    def make(sign_with: str = "platform", **settings: Any) -> Any:
        suffix = uuid.uuid4().hex[:12]
        secret = f"secret-{suffix}"
        appid, mchid = f"wx{suffix}", f"19{uuid.uuid4().int % 10**8:08d}"
        sandbox.apps[appid] = secret
        sandbox.pay.merchants[mchid] = {
            "mchid": mchid,
            "appid": appid,
            "apiv3_key": merchant_pay_keys.apiv3_key,
            "sign_with": sign_with,
            "api_public_key": merchant_pay_keys.api.public_pem,
            "api_serial": merchant_pay_keys.api.serial,
        }
        merchant = configuration.create(
            configuration.MerchantSpec(
                merchant_id=f"m-{suffix}",
                name="Test Coffee",
                appid=appid,
                app_secret_ref=f"dev:{secret}",
                tiers=[("normal", "普通", 0), ("silver", "银卡", 1000), ("gold", "金卡", 5000)],
                topup_plans=[("p300", 30000, 5000), ("p500", 50000, 10000)],
                **settings,
            )
        )
        pay = {
            "mchid": mchid,
            "cert_serial_no": merchant_pay_keys.api.serial,
            "private_key_ref": f"dev:{merchant_pay_keys.api.private_pem}",
            "apiv3_key_ref": f"dev:{merchant_pay_keys.apiv3_key}",
        }
        if sign_with == "public_key":
            pay.update(
                public_key_ref=f"dev:{sandbox.pay.keys.public_key.public_pem}",
                public_key_id=sandbox.pay.keys.public_key_id,
            )
        return configuration.configure_pay(merchant.merchant_id, **pay)

    return make


@pytest.fixture
def merchant(make_merchant: Any) -> Any:
    return make_merchant()


class Api:
    """JSON over chalice.test.Client: `status, body = api.post(path, body, token=...)`."""

    def __init__(self) -> None:
        from chalice.test import Client

        from infra.local.api import local_app

        self._client = Client(local_app(), stage_name="test", project_dir=ROOT)

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        token: str | None = None,
        headers: dict[str, str] | None = None,
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

    def put(self, path: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
        return self.call("PUT", path, body, **kw)

    def patch(self, path: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
        return self.call("PATCH", path, body, **kw)

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
        from mini_program_api.platform import auth

        return auth.issue(auth.Principal(merchant.merchant_id, member_id, "member"))[0]

    @staticmethod
    def admin_token(merchant: Any, username: str = "admin-1") -> str:
        """A session of the merchant's admin `username` (its account made on first use, without the scrypt
        cost of a real login): the token carries the account's token version, as a login's does."""
        from mini_program_api.db.staff import StaffAccount, staff_pk
        from mini_program_api.db.transact import put_new
        from mini_program_api.platform import auth, clock
        from mini_program_api.staff import accounts

        put_new(
            StaffAccount(
                staff_pk(merchant.merchant_id),
                username,
                merchant_id=merchant.merchant_id,
                username=username,
                role="admin",
                password_hash=accounts._dummy_hash(),
                created_at=clock.now(),
            )
        )
        account = accounts.account(merchant.merchant_id, username)
        return auth.issue(
            auth.Principal(merchant.merchant_id, username, "admin", None, int(account.token_version or 0))
        )[0]

    def ok(self, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        """Call, assert a 2xx, return the body."""
        status, result = self.call(method, path, body, **kw)
        assert 200 <= status < 300, (status, result)
        return result

    def staff_token(self, merchant: Any, store_id: str = "s1") -> str:
        """A real staff login at `store_id` (store and account created through the admin API)."""
        admin = self.admin_token(merchant)
        status, body = self.post("/v1/admin/stores", {"store_id": store_id, "name": f"Store {store_id}"}, token=admin)
        assert status in (201, 409), body
        username, password = f"cashier-{uuid.uuid4().hex[:8]}", "correct horse battery"
        status, body = self.post(
            "/v1/admin/staff",
            {"username": username, "password": password, "role": "staff", "store_id": store_id},
            token=admin,
        )
        assert status == 201, body
        status, body = self.post(
            "/v1/staff/login", {"merchant_id": merchant.merchant_id, "username": username, "password": password}
        )
        assert status == 200, body
        return body["token"]

    def member_code(self, token: str) -> str:
        status, body = self.get("/v1/me/code", token=token)
        assert status == 200, body
        return body["code"]

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
def api(stack: local_stack.Stack) -> Api:
    return Api()
