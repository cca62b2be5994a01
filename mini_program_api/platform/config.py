"""Runtime settings, read once per Lambda container from the environment.

The environment comes from `chalice.json` (one block per stage). Secrets are never
values here, only references (see `platform/secrets.py`), so that a leaked configuration
leaks no keys.
"""

from __future__ import annotations

import os
from functools import cache
from typing import NamedTuple

LOCAL_STAGES = frozenset({"local", "test"})


class Settings(NamedTuple):
    stage: str
    table_name: str
    region: str
    dynamodb_endpoint: str | None
    wechat_api_base: str
    wechatpay_api_base: str
    public_url: str
    default_merchant_id: str | None
    jwt_secret_ref: str
    pii_key_ref: str
    token_ttl_seconds: int
    member_code_ttl_seconds: int
    scrypt_log2n: int  # password hashing work factor; below 17 only on local stages (platform/passwords.py)

    @property
    def is_local(self) -> bool:
        return self.stage in LOCAL_STAGES


@cache
def settings() -> Settings:
    env = os.environ
    return Settings(
        stage=env.get("KABAO_STAGE", "dev"),
        table_name=env.get("KABAO_TABLE", "kabao"),
        region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "cn-north-1",
        dynamodb_endpoint=env.get("DYNAMODB_ENDPOINT") or None,
        wechat_api_base=env.get("WECHAT_API_BASE", "https://api.weixin.qq.com").rstrip("/"),
        wechatpay_api_base=env.get("WECHATPAY_API_BASE", "https://api.mch.weixin.qq.com").rstrip("/"),
        public_url=env.get("KABAO_PUBLIC_URL", "").rstrip("/"),
        default_merchant_id=env.get("KABAO_MERCHANT_ID") or None,
        jwt_secret_ref=env.get("KABAO_JWT_SECRET", ""),
        pii_key_ref=env.get("KABAO_PII_KEY", ""),
        token_ttl_seconds=int(env.get("KABAO_TOKEN_TTL", "7200")),
        member_code_ttl_seconds=int(env.get("KABAO_MEMBER_CODE_TTL", "60")),
        scrypt_log2n=int(env.get("KABAO_SCRYPT_LOG2N", "17")),
    )
