"""`make dev` (python -m infra.local.dev): starts, serves the walk-through, runs twice, and Ctrl-C stops everything."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import requests

from infra.local.loopback import free_port

ROOT = Path(__file__).resolve().parents[2]


def _start(ports: dict[str, int], env_file: Path) -> tuple[subprocess.Popen[str], dict[str, str]]:
    env = {
        **os.environ,
        "KABAO_API_PORT": str(ports["api"]),
        "KABAO_DDB_PORT": str(ports["ddb"]),
        "KABAO_SANDBOX_PORT": str(ports["sandbox"]),
        "KABAO_DEV_ENV_FILE": str(env_file),
    }  # never a developer's own .local/dev-env.json
    for key in (
        "DYNAMODB_ENDPOINT",
        "WECHAT_API_BASE",
        "WECHATPAY_API_BASE",
        "KABAO_STAGE",
        "KABAO_TABLE",
        "KABAO_JWT_SECRET",
        "KABAO_PII_KEY",
    ):
        env.pop(key, None)  # the dev stack must not need the test suite's settings
    proc = subprocess.Popen(
        [sys.executable, "-m", "infra.local.dev"],
        cwd=ROOT,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    urls: dict[str, str] = {}
    deadline = time.monotonic() + 180  # a wait, not a speed target: a loaded 2-core machine needs it
    assert proc.stdout is not None
    for line in proc.stdout:
        match = re.match(r"^\s+(API|local DynamoDB|WeChat sandbox)\s+(http://\S+)", line)
        if match:
            urls[match.group(1)] = match.group(2)
        if "kabao dev ready" in line or time.monotonic() > deadline:
            break
    assert "API" in urls, "make dev never became ready"
    # Keep draining its output, or chalice's request log fills the pipe and blocks it.
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()  # type: ignore[union-attr]
    return proc, urls


def _stop(proc: subprocess.Popen[str], urls: dict[str, str]) -> None:
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 0
    assert proc.stdout is not None
    proc.stdout.close()
    for url in urls.values():
        host, port = url.removeprefix("http://").split(":")
        with socket.socket() as s:
            assert s.connect_ex((host, int(port))) != 0, f"{url} still listening after Ctrl-C"


def test_dev_stack_serves_the_walkthrough_and_runs_twice(tmp_path: Path) -> None:
    ports = {"api": free_port(), "ddb": free_port(), "sandbox": free_port()}
    first, first_urls = _start(ports, tmp_path / "first-env.json")
    try:
        api = first_urls["API"]
        assert api == f"http://127.0.0.1:{ports['api']}"
        login = requests.post(
            f"{api}/v1/auth/login",
            json={"appid": "wxdemo0000000001", "code": f"test:demo:{uuid.uuid4().hex[:8]}"},
            timeout=10,
        )
        assert login.status_code == 200, login.text
        auth = {"authorization": f"Bearer {login.json()['token']}"}
        phone = requests.post(f"{api}/v1/me/phone", json={"code": "phone:13800138000"}, headers=auth, timeout=10)
        assert phone.status_code == 200, phone.text
        card = requests.post(f"{api}/v1/me/card", json={"agreed_terms_version": "1"}, headers=auth, timeout=10)
        assert card.status_code == 200 and card.json()["card"]["number"]
        assert requests.post(f"{api}/v1/me/sign-in", headers=auth, timeout=10).json()["points_earned"] == 10
        me = requests.get(f"{api}/v1/me", headers=auth, timeout=10).json()
        assert (me["points"], me["growth"], me["tier"]["id"]) == (10, 5, "normal")
        order = requests.post(
            f"{api}/v1/topup/orders",
            json={"plan_id": "p300"},
            headers={**auth, "idempotency-key": uuid.uuid4().hex},
            timeout=10,
        ).json()
        paid = requests.post(f"{first_urls['WeChat sandbox']}/_sandbox/pay/{order['order_id']}", timeout=10).json()
        assert paid["deliveries"] == [204]
        me = requests.get(f"{api}/v1/me", headers=auth, timeout=10).json()
        assert (me["principal"], me["bonus"]) == (30000, 5000)
        staff = requests.post(
            f"{api}/v1/staff/login",
            json={"merchant_id": "demo", "username": "cashier", "password": "LOCAL-DEV-ONLY-cashier"},
            timeout=10,
        ).json()
        code = requests.get(f"{api}/v1/me/code", headers=auth, timeout=10).json()["code"]
        sale = requests.post(
            f"{api}/v1/staff/checkout",
            json={"member_code": code, "amount": 6800, "stored_value": 2000},
            headers={"authorization": f"Bearer {staff['token']}", "idempotency-key": uuid.uuid4().hex},
            timeout=10,
        )
        assert sale.status_code == 200 and sale.json()["cash_due"] == 4800, sale.text
        me = requests.get(f"{api}/v1/me", headers=auth, timeout=10).json()
        assert (me["principal"], me["bonus"], me["points"]) == (30000, 3000, 10 + 68)

        # WeChat 卡包: the seeded card, one-step activation, and the stream-driven sync of the next sale.
        sandbox = first_urls["WeChat sandbox"]
        wallet = requests.get(f"{api}/v1/me/wallet", headers=auth, timeout=10).json()
        handed = requests.post(
            f"{sandbox}/_sandbox/cards/{wallet['card_id']}/members",
            json={"openid": "oa-demo", "phone": "13800138000"},
            timeout=10,
        ).json()
        activated = requests.post(
            f"{api}/v1/me/wallet/activate",
            headers=auth,
            timeout=10,
            json={
                "card_id": wallet["card_id"],
                "encrypt_code": handed["encrypt_code"],
                "activate_ticket": handed["activate_ticket"],
                "agreed_terms_version": "1",
            },
        )
        assert activated.status_code == 200 and activated.json()["in_wallet"], activated.text
        shown = requests.get(f"{sandbox}/_sandbox/cards/{handed['code']}", timeout=10).json()
        assert (shown["balance"], shown["bonus"]) == (33000, 78)
        assert shown["membership_number"] == card.json()["card"]["number"]
        code = requests.get(f"{api}/v1/me/code", headers=auth, timeout=10).json()["code"]
        sale = requests.post(
            f"{api}/v1/staff/checkout",
            json={"member_code": code, "amount": 1000, "stored_value": 1000},
            headers={"authorization": f"Bearer {staff['token']}", "idempotency-key": uuid.uuid4().hex},
            timeout=10,
        )
        assert sale.status_code == 200, sale.text
        deadline = time.monotonic() + 60  # a wait for the stream poller, not a speed assertion
        while time.monotonic() < deadline:
            shown = requests.get(f"{sandbox}/_sandbox/cards/{handed['code']}", timeout=10).json()
            if shown["balance"] != 33000:
                break
            time.sleep(0.5)
        assert (shown["balance"], shown["bonus"]) == (32000, 88) and shown["notices"][-1].startswith("消费")

        # A second terminal runs a scheduled function now, against this stack (infra/local/jobs.py).
        ran = subprocess.run(
            [sys.executable, "-m", "infra.local.jobs", "run", "wallet_sweep"],
            cwd=ROOT,
            text=True,
            capture_output=True,
            timeout=120,
            env={"PATH": os.environ["PATH"], "KABAO_DEV_ENV_FILE": str(tmp_path / "first-env.json")},
        )
        assert ran.returncode == 0, ran.stderr
        assert json.loads(ran.stdout.strip().splitlines()[-1])["report"]["failed"] == []

        second, second_urls = _start(ports, tmp_path / "second-env.json")  # all busy: it moves aside
        try:
            assert set(second_urls.values()).isdisjoint(first_urls.values())
            assert (
                requests.post(
                    f"{second_urls['API']}/v1/auth/login",
                    json={"appid": "wxdemo0000000001", "code": "test:demo"},
                    timeout=10,
                ).status_code
                == 200
            )
        finally:
            _stop(second, second_urls)
    finally:
        _stop(first, first_urls)
