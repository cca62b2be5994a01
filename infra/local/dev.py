"""`make dev`: the whole product on loopback, seeded, until Ctrl-C.

Starts DynamoDB Local (infra/local/dynamodb.py), the WeChat sandbox, the Parameters and Secrets
extension's stand-in (infra/local/parameters_extension.py: the local stage's JWT secret and PII key are
`ssm:` references, read as in AWS) and Chalice's local API server (infra/local/api.py) as child processes, creates
the table, seeds the demo merchant and prints a curl walk-through. The table's stream feeds the
wallet sync (infra/local/streams.py) and every scheduled function runs on its schedule
(infra/local/jobs.py). Ports default to 8000 (API), 8001 (DynamoDB) and 8002
(sandbox) and 2773 (the extension's, as in AWS); a busy port is replaced by a free one, so a second copy runs
beside the first instead of failing. Data lives in memory: every run starts clean.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from infra.local.dynamodb import DynamoDBLocal
from infra.local.jobs import product_environment, write_environment
from infra.local.loopback import free_port
from infra.local.stack import environment, extension_environment, session_token, stage_parameters

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"


def _wait_for(port: int, proc: subprocess.Popen[bytes], name: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{name} did not start on port {port}")


def walkthrough(api: str, sandbox: str, appid: str) -> str:
    q = "'"
    post = "curl -s -X POST -H 'content-type: application/json'"
    auth = '-H "authorization: Bearer $TOKEN"'
    return "\n".join(
        [
            "# log in (the sandbox takes test:<openid>[:<nonce>]; each code works once)",
            f'TOKEN=$({post} {api}/v1/auth/login -d {q}{{"appid":"{appid}","code":"test:demo-member:{q}$RANDOM{q}"}}{q} \\',
            "  | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"token\"])')",
            "# bind a phone number (phone:<digits>[:<nonce>])",
            f'{post} {auth} {api}/v1/me/phone -d {q}{{"code":"phone:13800138000:{q}$RANDOM{q}"}}{q}; echo',
            "# open the card",
            f'{post} {auth} {api}/v1/me/card -d {q}{{"agreed_terms_version":"1","name":"Demo"}}{q}; echo',
            "# daily sign-in, then the card",
            f"{post} {auth} {api}/v1/me/sign-in; echo",
            f"curl -s {auth} {api}/v1/me; echo",
            f"curl -s {auth} '{api}/v1/me/ledger?account=points'; echo",
            "# top up with plan p300 (pay 300 yuan, get 50 bonus); the sandbox pays and sends the signed notify",
            f'ORDER=$({post} {auth} -H "idempotency-key: demo-$RANDOM$RANDOM" {api}/v1/topup/orders -d \'{{"plan_id":"p300"}}\' \\',
            "  | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"order_id\"])')",
            f"curl -s -X POST {sandbox}/_sandbox/pay/$ORDER; echo",
            f"curl -s {auth} {api}/v1/topup/orders/$ORDER; echo",
            f"curl -s {auth} '{api}/v1/me/ledger?account=balance'; echo",
            "# coupon offers, claim the first, list my coupons",
            f'OFFER=$(curl -s {auth} {api}/v1/coupons/offers | python3 -c \'import json,sys; print(json.load(sys.stdin)["offers"][0]["template_id"])\')',
            f'{post} {auth} -H "idempotency-key: demo-$RANDOM$RANDOM" {api}/v1/coupons/offers/$OFFER/claim; echo',
            f"curl -s {auth} {api}/v1/me/coupons; echo",
            "# at the counter: the cashier logs in, scans the member's code, takes 20 yuan of stored value",
            f'STAFF=$({post} {api}/v1/staff/login -d \'{{"merchant_id":"demo","username":"cashier","password":"LOCAL-DEV-ONLY-cashier"}}\' \\',
            "  | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"token\"])')",
            f"CODE=$(curl -s {auth} {api}/v1/me/code | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"code\"])')",
            f'{post} -H "authorization: Bearer $STAFF" -H "idempotency-key: demo-$RANDOM$RANDOM" {api}/v1/staff/checkout \\',
            f'  -d {q}{{"member_code":"{q}$CODE{q}","amount":6800,"stored_value":2000}}{q}; echo',
            f"curl -s {auth} {api}/v1/me; echo",
            "# WeChat 卡包: what the mini program gets for the one-click activation component and wx.addCard",
            f"CARD_ID=$(curl -s {auth} {api}/v1/me/wallet | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"card_id\"])')",
            "# the member takes the card in WeChat and fills its form (the sandbox plays WeChat) ...",
            f'HANDED=$({post} {sandbox}/_sandbox/cards/$CARD_ID/members -d \'{{"openid":"oa-demo","phone":"13800138000"}}\')',
            "# ... and the mini program passes what WeChat handed it: one step, the card is activated and linked",
            f"{post} {auth} {api}/v1/me/wallet/activate -d \"$(echo $HANDED | python3 -c 'import json,sys; h=json.load(sys.stdin); "
            'print(json.dumps({"card_id": "\'$CARD_ID\'", "encrypt_code": h["encrypt_code"], '
            '"activate_ticket": h["activate_ticket"], "agreed_terms_version": "1"}))\')"; echo',
            "# spend 10 yuan of stored value: the sync pushes the new balance to WeChat within a second or two",
            f"CODE=$(curl -s {auth} {api}/v1/me/code | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"code\"])')",
            f'{post} -H "authorization: Bearer $STAFF" -H "idempotency-key: demo-$RANDOM$RANDOM" {api}/v1/staff/checkout \\',
            f'  -d {q}{{"member_code":"{q}$CODE{q}","amount":1000,"stored_value":1000}}{q}; echo',
            "sleep 3",
            "# what WeChat shows on the card: bonus (points), balance (fen), tier, and the change notices",
            f"curl -s {sandbox}/_sandbox/cards/$(echo $HANDED | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"code\"])'); echo",
        ]
    )


def main() -> int:
    ports = {
        name: free_port(int(os.environ.get(var, default)))
        for name, var, default in (
            ("api", "KABAO_API_PORT", 8000),
            ("dynamodb", "KABAO_DDB_PORT", 8001),
            ("sandbox", "KABAO_SANDBOX_PORT", 8002),
            ("extension", "KABAO_EXTENSION_PORT", 2773),
        )
    }
    urls = {name: f"http://{HOST}:{port}" for name, port in ports.items()}
    env = {
        **os.environ,
        **environment(urls["dynamodb"], urls["sandbox"], urls["api"]),
        "KABAO_MERCHANT_ID": "demo",
        "PYTHONUNBUFFERED": "1",
    }
    config = json.loads((ROOT / "chalice.json").read_text())["stages"]["local"]["environment_variables"]
    extension = extension_environment(ports["extension"], session_token())
    env.update(extension)
    procs: list[subprocess.Popen[bytes] | DynamoDBLocal] = []
    shared: Path | None = None

    def start(name: str, *args: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env)
        procs.append(proc)
        _wait_for(ports[name], proc, name)
        return proc

    def stop(*_: object) -> None:
        for proc in procs:
            if isinstance(proc, DynamoDBLocal):
                proc.stop()
            elif proc.poll() is None:
                proc.terminate()
        for proc in procs:
            if isinstance(proc, subprocess.Popen):
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    # A shell's background job starts with SIGINT ignored; Ctrl-C/SIGINT must still stop the stack.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        procs.append(DynamoDBLocal(ports["dynamodb"]))
        start("sandbox", "-m", "infra.local.wechat_sandbox", "--port", str(ports["sandbox"]))
        env["KABAO_EXTENSION_PARAMETERS"] = json.dumps(stage_parameters(config["KABAO_STAGE"]))
        start("extension", "-m", "infra.local.parameters_extension", "--port", str(ports["extension"]))
        del env["KABAO_EXTENSION_PARAMETERS"]  # the stand-in's alone: no other process holds the values
        os.environ.update({**env, **config})  # this process seeds through the product's own code
        import boto3

        from infra.local.seed import seed
        from mini_program_api.db.schema import create_table

        create_table(boto3.client("dynamodb", endpoint_url=urls["dynamodb"]), config["KABAO_TABLE"])
        appid = seed(urls["sandbox"], urls["api"])
        env.update(config)  # the stage's environment, as `chalice local --stage local` would set it
        start("api", "-m", "infra.local.api", "--host", HOST, "--port", str(ports["api"]))
        # The table's stream -> the wallet sync, as Lambda's trigger does in AWS (infra/local/streams.py).
        procs.append(subprocess.Popen([sys.executable, "-m", "infra.local.streams"], cwd=ROOT, env=env))
        # Every scheduled function on its schedule, as EventBridge does in AWS (infra/local/jobs.py); the
        # environment file lets `python -m infra.local.jobs run <name>` reach this stack from another terminal.
        shared = write_environment(product_environment(env, [*environment("", "", ""), *config, *extension]))
        procs.append(subprocess.Popen([sys.executable, "-m", "infra.local.jobs", "serve"], cwd=ROOT, env=env))
        from infra.local import demo_data  # 90 days of history, made in the background (KABAO_DEMO_DATA=0: none)

        if demo_data.wanted(env):
            demo_data.start(env)
        from infra.local.seed import DEMO_STAFF

        logins = ", ".join(f"{user} / {password}" for user, password in DEMO_STAFF.items())
        print(
            f"\nkabao is running (Ctrl-C stops everything):\n"
            f"  API             {urls['api']}\n  local DynamoDB  {urls['dynamodb']}\n"
            f"  console         {urls['api']}/console/  merchant demo; {logins}\n"
            f"  WeChat sandbox  {urls['sandbox']}\n  demo appid      {appid}\n"
            f"  secrets         ssm: through the Parameters and Secrets extension's stand-in on {urls['extension']}\n"
            f"  scheduled jobs  on their schedules; now: python -m infra.local.jobs list | run <name> ({shared})\n\n"
            f"{walkthrough(urls['api'], urls['sandbox'], appid)}\n\nkabao dev ready",
            flush=True,
        )
        while all(p.poll() is None for p in procs):
            time.sleep(0.5)
        print("a service stopped; shutting down", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    except RuntimeError as exc:  # SetupError included
        print(f"make dev failed: {exc}", file=sys.stderr)
        return 1
    finally:
        stop()
        if shared is not None:
            shared.unlink(missing_ok=True)  # its ports are closed now


if __name__ == "__main__":
    sys.exit(main())
