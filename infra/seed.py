"""The demo merchant `make dev` seeds: safe to run again (creating an existing merchant is a no-op)."""
from __future__ import annotations

import json
import urllib.request

DEMO_APPID = "wxdemo0000000001"
# Clearly a local dev key: the sandbox accepts it, production resolves secrets from SSM.
DEMO_APP_SECRET = "demo-LOCAL-DEV-ONLY-app-secret"


def seed(sandbox_url: str) -> str:
    """Register the demo app with the sandbox and create the demo merchant; returns its appid."""
    from mini_program_api import merchants

    request = urllib.request.Request(
        f"{sandbox_url}/_sandbox/apps",
        data=json.dumps({"appid": DEMO_APPID, "secret": DEMO_APP_SECRET}).encode(),
        headers={"content-type": "application/json"},
        method="POST",
    )
    urllib.request.urlopen(request, timeout=5).read()
    merchants.create(
        merchants.MerchantSpec(
            merchant_id="demo",
            name="kabao Demo Coffee",
            appid=DEMO_APPID,
            app_secret_ref=f"dev:{DEMO_APP_SECRET}",
            tiers=[("normal", "普通会员", 0), ("silver", "银卡会员", 1000), ("gold", "金卡会员", 5000)],
            topup_plans=[("p100", 10000, 1000), ("p300", 30000, 5000), ("p500", 50000, 10000)],
            sign_in_points=10,
            sign_in_growth=5,
        )
    )
    return DEMO_APPID
