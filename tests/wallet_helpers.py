"""Shared set-up for the WeChat 卡包 tests: a merchant with its official account and card, and the stream."""

from __future__ import annotations

import uuid
from typing import Any

import boto3

AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters, as 公众平台 generates


def card_body(oa_appid: str, secret: str, token: str, aes: bool = False, **overrides: Any) -> dict[str, Any]:
    body = {
        "oa_appid": oa_appid,
        "oa_secret_ref": f"dev:{secret}",
        "event_token_ref": f"dev:{token}",
        "brand_name": "Test Coffee",
        "title": "会员卡",
        "logo_url": "https://example.com/logo.png",
        "color": "Color010",
        "prerogative": "会员享九五折",
        "notice": "出示会员卡",
        "description": "会员卡说明",
    }
    if aes:
        body["aes_key_ref"] = f"dev:{AES_KEY}"
    return {**body, **overrides}


def setup_wallet(api: Any, sandbox: Any, stack: Any, merchant: Any, aes: bool = False) -> dict[str, Any]:
    """Register an official account in the sandbox, PUT the card over HTTP, point its event pushes at us."""
    suffix = uuid.uuid4().hex[:10]
    oa_appid, secret, token = f"wxoa{suffix}", f"oa-secret-{suffix}", f"evtoken{suffix}"
    sandbox.apps[oa_appid] = secret
    status, card = api.put(
        "/v1/admin/wallet/card", card_body(oa_appid, secret, token, aes), token=api.admin_token(merchant)
    )
    assert status == 200, card
    sandbox.card.register_events(
        oa_appid, f"{stack.api_url}/v1/wechat/card-events/{merchant.merchant_id}", token, AES_KEY if aes else None
    )
    return {"oa_appid": oa_appid, "card": card, "card_id": card["card_id"], "token": token}


def activate(
    api: Any,
    sandbox: Any,
    merchant: Any,
    wallet: dict[str, Any],
    session: dict[str, Any] | None = None,
    phone: str | None = None,
) -> dict[str, Any]:
    """A member adds the card in WeChat, fills the form, and the mini program calls the activate endpoint."""
    session = session or api.login(merchant)
    phone = phone or f"138{uuid.uuid4().int % 10**8:08d}"
    handed = sandbox.card.add_member(wallet["card_id"], f"oa-{uuid.uuid4().hex[:8]}", phone)
    status, body = api.post(
        "/v1/me/wallet/activate",
        {
            "card_id": wallet["card_id"],
            "encrypt_code": handed["encrypt_code"],
            "activate_ticket": handed["activate_ticket"],
            "agreed_terms_version": merchant.terms_version,
        },
        token=session["token"],
    )
    assert status == 200, body
    return {**session, **handed, "phone": phone, "wallet": body}


def stream_records(stack: Any) -> list[dict[str, Any]]:
    """Every record of the table's stream so far (DynamoDB Local), in the shape Lambda hands them over."""
    client = boto3.client("dynamodb", endpoint_url=stack.ddb.url)
    streams = boto3.client("dynamodbstreams", endpoint_url=stack.ddb.url)
    arn = client.describe_table(TableName=stack.table)["Table"]["LatestStreamArn"]
    records: list[dict[str, Any]] = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            page = streams.get_records(ShardIterator=iterator, Limit=1000)
            records.extend(page["Records"])
            if not page["Records"]:
                break
            iterator = page.get("NextShardIterator")
    return records


def invoke(name: str, payload: dict[str, Any] | None = None) -> Any:
    """Run one of the app's Lambda functions as AWS would (a scheduled event unless `payload` is given)."""
    from chalice.test import Client

    from app import app
    from tests.conftest import ROOT

    with Client(app, stage_name="test", project_dir=ROOT) as client:
        if payload is None:
            payload = client.events.generate_cw_event(
                source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
            )
        return client.lambda_.invoke(name, payload).payload


def lambda_records(stack: Any, seen: int = 0) -> tuple[list[dict[str, Any]], int]:
    """The stream's records after the first `seen`, as Lambda's event JSON; and how many there are now."""
    records = stream_records(stack)
    shaped = []
    for record in records[seen:]:
        change = dict(record["dynamodb"])
        created = change.get("ApproximateCreationDateTime")
        change["ApproximateCreationDateTime"] = created.timestamp() if hasattr(created, "timestamp") else 0
        shaped.append({**record, "dynamodb": change, "eventSourceARN": "arn:local", "awsRegion": "cn-north-1"})
    return shaped, len(records)


def deliver_stream(stack: Any, seen: int = 0) -> tuple[Any, int]:
    """Hand the stream's new records to the wallet_stream function; (its answer, records seen so far)."""
    records, total = lambda_records(stack, seen)
    return invoke("wallet_stream", {"Records": records}), total
