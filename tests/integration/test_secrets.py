"""Secret references: `ssm:` read through the Parameters and Secrets extension (its loopback stand-in,
infra/local/parameters_extension.py, which every stack runs), `dev:` local only."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from typing import Any

import pytest
import requests

from mini_program_api.platform import secrets
from tests.timeline import Clock


def _name() -> str:
    return f"/kabao/test/{uuid.uuid4().hex}"


def test_an_ssm_reference_reads_the_decrypted_parameter_through_the_extension(stack: Any) -> None:
    name = _name()
    stack.parameters.put(name, "s3cret")
    assert secrets.resolve(f"ssm:{name}") == "s3cret"  # not the cipher: withDecryption=true was asked
    assert stack.parameters.reads.count(name) == 1


def test_an_unknown_parameter_is_a_secret_error_naming_it(stack: Any) -> None:
    name = _name()
    with pytest.raises(secrets.SecretError, match=f"parameter {name}: .* answered 400: .*ParameterNotFound"):
        secrets.resolve(f"ssm:{name}")


@pytest.mark.parametrize("token", ["", "another-token"])
def test_a_missing_or_refused_session_token_is_a_secret_error_without_the_value(
    stack: Any, monkeypatch: pytest.MonkeyPatch, token: str
) -> None:
    name = _name()
    stack.parameters.put(name, "s3cret-value")
    monkeypatch.setenv("AWS_SESSION_TOKEN", token)
    with pytest.raises(secrets.SecretError, match=f"parameter {name}") as refused:
        secrets.resolve(f"ssm:{name}")
    assert "s3cret-value" not in str(refused.value) and (
        token == "" or "refused the session token" in str(refused.value)
    )


def test_the_stand_in_refuses_a_request_without_the_token_as_the_extension_does(stack: Any) -> None:
    name = _name()
    stack.parameters.put(name, "s3cret")
    url = f"{stack.extension_server.url}/systemsmanager/parameters/get"
    query = {"name": name, "withDecryption": "true"}
    token = {"X-Aws-Parameters-Secrets-Token": stack.parameters.token}
    assert requests.get(url, params=query, timeout=5).status_code == 401
    assert (
        requests.get(url, params=query, headers={"X-Aws-Parameters-Secrets-Token": "x"}, timeout=5).status_code == 401
    )
    assert requests.get(url, params={"withDecryption": "true"}, headers=token, timeout=5).status_code == 400
    assert requests.get(f"{stack.extension_server.url}/secretsmanager/get", headers=token, timeout=5).status_code == 404
    read = requests.get(url + "/", params=query, headers=token, timeout=5).json()["Parameter"]
    assert (read["Name"], read["Type"], read["Value"], read["Version"]) == (name, "SecureString", "s3cret", 1)
    cipher = requests.get(url, params={"name": name}, headers=token, timeout=5).json()["Parameter"]["Value"]
    assert cipher != "s3cret"  # without withDecryption a SecureString is its cipher, as SSM answers


def test_no_extension_on_the_port_is_a_secret_error_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The layer not attached: nothing listens on the extension's port; refused at once, not retried."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: a connection is refused
        monkeypatch.setenv("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", str(port))
        started = time.monotonic()
        with pytest.raises(secrets.SecretError, match=f"did not answer on localhost:{port}.*layer attached"):
            secrets.resolve(f"ssm:{_name()}")
    assert time.monotonic() - started < secrets.TIMEOUT_SECONDS


@pytest.mark.parametrize("port", ["27 73", "http", "-1", "0", "65536", "２７７３"])
def test_a_port_setting_that_is_not_a_port_is_a_secret_error_naming_it(
    port: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mistyped PARAMETERS_SECRETS_EXTENSION_HTTP_PORT is said as such, not a ValueError (a 500) at the first read."""
    monkeypatch.setenv("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", port)
    with pytest.raises(secrets.SecretError, match="PARAMETERS_SECRETS_EXTENSION_HTTP_PORT is not a port"):
        secrets.resolve(f"ssm:{_name()}")


def test_an_extension_that_never_answers_is_a_secret_error_after_the_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """Accepts the connection and says nothing: the request gives up after TIMEOUT_SECONDS, it does not hang."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        monkeypatch.setenv("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", str(listener.getsockname()[1]))
        monkeypatch.setattr(secrets, "TIMEOUT_SECONDS", 0.5)
        started = time.monotonic()
        with pytest.raises(secrets.SecretError, match="did not answer.*TimeoutError"):
            secrets.resolve(f"ssm:{_name()}")
        assert 0.4 < time.monotonic() - started < 3


def test_a_rotated_secret_is_picked_up_after_its_max_age_without_a_cold_start(stack: Any, clock: Clock) -> None:
    name = _name()
    stack.parameters.put(name, "before")
    assert secrets.resolve(f"ssm:{name}") == "before"
    stack.parameters.put(name, "after")
    clock.advance(seconds=secrets.MAX_AGE_SECONDS - 1)
    assert secrets.resolve(f"ssm:{name}") == "before"  # kept in the process: no loopback call per request
    assert stack.parameters.reads.count(name) == 1
    clock.advance(seconds=2)
    assert secrets.resolve(f"ssm:{name}") == "after"
    assert stack.parameters.reads.count(name) == 2
    # The extension keeps its copy EXTENSION_TTL_SECONDS (SSM_PARAMETER_STORE_TTL): the worst case is the sum.
    assert secrets.ROTATION_SECONDS == secrets.MAX_AGE_SECONDS + secrets.EXTENSION_TTL_SECONDS == 300


def test_a_clock_moved_back_does_not_keep_a_value_longer(stack: Any, clock: Clock) -> None:
    """A read stamped in the future (a test or the demo data moved the clock back) is not fresh: it is read again."""
    name = _name()
    stack.parameters.put(name, "before")
    clock.advance(seconds=3600)
    assert secrets.resolve(f"ssm:{name}") == "before"
    stack.parameters.put(name, "after")
    clock.set(clock.start)
    assert secrets.resolve(f"ssm:{name}") == "after"


def test_threads_resolving_one_name_at_once_all_read_its_value(stack: Any) -> None:
    """The local server answers on many threads; the cache is shared by them."""
    name = _name()
    stack.parameters.put(name, "shared")
    seen: list[str] = []
    errors: list[BaseException] = []

    def read() -> None:
        try:
            seen.append(secrets.resolve(f"ssm:{name}"))
        except BaseException as exc:  # noqa: BLE001  (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and seen == ["shared"] * 16
    assert 1 <= stack.parameters.reads.count(name) <= 16


@pytest.mark.parametrize("ref", ["", "ssm:", "plain-value", "vault:/x"])
def test_malformed_or_unknown_references_are_refused(ref: str) -> None:
    with pytest.raises(secrets.SecretError):
        secrets.resolve(ref)


def test_dev_references_are_refused_outside_local_stages(monkeypatch: pytest.MonkeyPatch) -> None:

    from mini_program_api.platform.config import settings

    prod = settings()._replace(stage="prod")
    monkeypatch.setattr(secrets, "settings", lambda: prod)
    with pytest.raises(secrets.SecretError):
        secrets.resolve("dev:some-key")


def test_a_signed_in_request_works_with_an_ssm_jwt_secret(
    api: Any, stack: Any, merchant: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The JWT secret as AWS has it, an `ssm:` reference read through the extension: a token signed with it is
    taken, over HTTP too, and one signed with the `dev:` secret before is not (the new value is the one used)."""

    from mini_program_api.platform import auth
    from mini_program_api.platform.config import settings

    before = api.login(merchant)["token"]
    name = _name()
    stack.parameters.put(name, f"jwt-{uuid.uuid4().hex}-{uuid.uuid4().hex}")
    aws_like = settings()._replace(jwt_secret_ref=f"ssm:{name}")
    monkeypatch.setattr(auth, "settings", lambda: aws_like)
    member = api.login(merchant)
    assert api.get("/v1/me", token=member["token"])[0] == 200
    answer = requests.get(f"{stack.api_url}/v1/me", headers={"Authorization": f"Bearer {member['token']}"}, timeout=10)
    assert answer.status_code == 200, answer.text
    assert api.get("/v1/me", token=before)[0] == 401
    assert stack.parameters.reads.count(name) == 1  # one loopback read, then the process's copy


@pytest.mark.parametrize(
    "answer",
    [
        b"not http at all\r\n",  # something else on the port: http.client's BadStatusLine
        b"HTTP/1.1 200 OK\r\nContent-Length: 200\r\n\r\n" + b'{"Parameter": {"Name": "n", "Value": "s3cr',  # cut off
    ],
    ids=["not-http", "cut-off"],
)
def test_an_answer_that_is_not_whole_http_is_a_secret_error_without_the_value(
    monkeypatch: pytest.MonkeyPatch, answer: bytes
) -> None:
    """Half an answer (the extension restarted mid-reply) or another program on the port: http.client raises its
    own HTTPException, not an OSError; it must still be the SecretError naming the parameter, and carry nothing of
    the value (IncompleteRead holds the bytes it read)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        monkeypatch.setenv("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", str(listener.getsockname()[1]))

        def serve() -> None:
            connection, _ = listener.accept()
            with connection:
                connection.recv(65536)
                connection.sendall(answer)

        server = threading.Thread(target=serve)
        server.start()
        name = _name()
        with pytest.raises(secrets.SecretError, match=f"parameter {name}: .*did not answer") as raised:
            secrets.resolve(f"ssm:{name}")
        server.join(timeout=5)
    error = raised.value
    assert error.__cause__ is None and error.__suppress_context__
    assert "s3cr" not in str(error)


def test_a_merchant_key_the_extension_cannot_read_is_not_the_merchants_set_up_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A read that fails (no layer, the extension restarting, SSM throttled) is the deployment's: it stays the
    SecretError naming the parameter and its cause (a logged 5xx), not the merchant's PAYMENT_NOT_CONFIGURED, which
    only a refused reference is (SecretRefused: test_secret_refs.py)."""
    from mini_program_api.db.models import Merchant, PaySettings, merchant_pk
    from mini_program_api.topup import orders

    merchant_id = f"m{uuid.uuid4().hex[:12]}"
    own = f"ssm:{secrets.merchant_prefix(merchant_id)}"
    pay = PaySettings(
        mchid="1900000001", cert_serial_no="ABC", private_key_ref=f"{own}private-key", apiv3_key_ref=f"{own}apiv3-key"
    )
    merchant = Merchant(merchant_pk(merchant_id), "PROFILE", merchant_id=merchant_id, appid="wx0123456789", pay=pay)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))  # bound, not listening: the layer is missing, or the extension is restarting
        monkeypatch.setenv("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", str(s.getsockname()[1]))
        with pytest.raises(secrets.SecretError, match=f"parameter {own[4:]}private-key: .*did not answer"):
            orders.pay_config(merchant)
