"""The demo merchant `make dev` seeds: safe to run again (creating an existing merchant is a no-op)."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

DEMO_APPID = "wxdemo0000000001"
# Clearly a local dev key: the sandbox accepts it, production resolves secrets from SSM.
DEMO_APP_SECRET = "demo-LOCAL-DEV-ONLY-app-secret"


DEMO_MCHID = "1900000001"
# The demo official account (公众号) that owns the WeChat 卡包 member card, and its event push settings.
DEMO_OA_APPID = "wxdemooa00000001"
DEMO_OA_SECRET = "demo-LOCAL-DEV-ONLY-oa-secret"
DEMO_EVENT_TOKEN = "LOCALDEVONLYeventtoken"
DEMO_AES_KEY = "LOCALDEVONLYaeskey0123456789abcdefghijklmno"  # 43 characters, as 公众平台 generates
# Clearly local dev accounts for the demo store; production admins are made with infra/deploy/accounts.py.
DEMO_STAFF = {
    "admin": "LOCAL-DEV-ONLY-admin",
    "cashier": "LOCAL-DEV-ONLY-cashier",
    "cashier2": "LOCAL-DEV-ONLY-cashier2",
}


def _call(url: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(
        url, data=data, headers={"content-type": "application/json"}, method="POST" if data else "GET"
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def seed(sandbox_url: str, api_url: str | None = None) -> str:
    """Register the demo app and its WeChat Pay merchant with the sandbox, create the demo merchant.

    Returns the demo appid. The WeChat Pay keys are generated on the spot (the
    sandbox forgets everything between runs anyway) and handed over as dev: refs.
    """
    from infra.local.devkeys import merchant_keys
    from mini_program_api.merchants import configuration

    _call(f"{sandbox_url}/_sandbox/apps", {"appid": DEMO_APPID, "secret": DEMO_APP_SECRET})
    keys = merchant_keys(DEMO_MCHID)
    _call(
        f"{sandbox_url}/_sandbox/pay/merchants",
        {
            "mchid": DEMO_MCHID,
            "appid": DEMO_APPID,
            "apiv3_key": keys.apiv3_key,
            "sign_with": "public_key",
            "api_public_key": keys.api.public_pem,
            "api_serial": keys.api.serial,
        },
    )
    wechatpay = _call(f"{sandbox_url}/_sandbox/pay/keys")
    configuration.create(
        configuration.MerchantSpec(
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
    from mini_program_api.coupons import templates
    from mini_program_api.db.coupon_templates import CouponTemplate, template_pk

    if not list(CouponTemplate.query(template_pk("demo"), limit=1)):
        for spec in (
            templates.TemplateSpec(
                name="满50减10",
                kind="FULL_REDUCTION",
                threshold=5000,
                amount=1000,
                total_stock=1000,
                per_member_limit=1,
                days_after_claim=30,
            ),
            templates.TemplateSpec(
                name="拿铁八五折",
                kind="DISCOUNT",
                rate=85,
                max_discount=2000,
                total_stock=500,
                per_member_limit=2,
                days_after_claim=14,
            ),
            templates.TemplateSpec(
                name="金卡会员免费美式",
                kind="GIFT",
                gift_name="美式咖啡一杯",
                total_stock=100,
                per_member_limit=1,
                days_after_claim=7,
                tier_ids=("gold",),
            ),
        ):
            templates.create_template("demo", spec)
        templates.create_template(
            "demo",
            templates.TemplateSpec(
                name="300积分换可颂",
                kind="GIFT",
                gift_name="可颂一个",
                total_stock=200,
                per_member_limit=5,
                days_after_claim=30,
                points_price=300,
            ),
        )
        _seed_staff()
    configuration.configure_pay(
        "demo",
        mchid=DEMO_MCHID,
        cert_serial_no=keys.api.serial,
        private_key_ref=f"dev:{keys.api.private_pem}",
        apiv3_key_ref=f"dev:{keys.apiv3_key}",
        public_key_ref=f"dev:{wechatpay['public_key']}",
        public_key_id=wechatpay["public_key_id"],
    )
    _seed_wallet_card(sandbox_url, api_url)
    return DEMO_APPID


def _seed_wallet_card(sandbox_url: str, api_url: str | None) -> None:
    """The demo member card in the sandbox's WeChat, created through the product's own set-up path."""
    from mini_program_api.platform.auth import Principal
    from mini_program_api.wallet import setup

    _call(f"{sandbox_url}/_sandbox/apps", {"appid": DEMO_OA_APPID, "secret": DEMO_OA_SECRET})
    if api_url:
        _call(
            f"{sandbox_url}/_sandbox/cards/events",
            {
                "appid": DEMO_OA_APPID,
                "url": f"{api_url}/v1/wechat/card-events/demo",
                "token": DEMO_EVENT_TOKEN,
                "aes_key": DEMO_AES_KEY,
            },
        )
    setup.put(
        Principal("demo", "admin", "admin"),
        setup.CardSpec(
            oa_appid=DEMO_OA_APPID,
            oa_secret_ref=f"dev:{DEMO_OA_SECRET}",
            event_token_ref=f"dev:{DEMO_EVENT_TOKEN}",
            aes_key_ref=f"dev:{DEMO_AES_KEY}",
            brand_name="kabao Demo Coffee",
            title="Demo 会员卡",
            logo_url="https://example.com/kabao-logo.png",
            color="Color010",
            prerogative="会员专享折扣与积分",
            notice="结账时出示会员卡",
            description="积分、储值与会员等级实时同步",
        ),
    )


def _seed_staff() -> None:
    from mini_program_api.platform.auth import Principal
    from mini_program_api.staff import accounts, stores
    from mini_program_api.till import punch_cards

    admin = Principal("demo", "admin", "admin")
    accounts.create_account(None, "demo", "admin", DEMO_STAFF["admin"], "admin", None)
    stores.create_store(admin, "s1", "人民广场店")
    accounts.create_account(admin, "demo", "cashier", DEMO_STAFF["cashier"], "staff", "s1")
    # A second store, so the demo data (infra/local/demo_data.py) shows sales per store.
    stores.create_store(admin, "s2", "南京西路店")
    accounts.create_account(admin, "demo", "cashier2", DEMO_STAFF["cashier2"], "staff", "s2")
    punch_cards.create_plan(admin, "美式10杯卡", visits=10, valid_days=180, price=20000, store_ids=[])
