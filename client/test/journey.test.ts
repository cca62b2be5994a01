/**
 * The member's journey against the local stack, through the typed client: log in, bind the phone, open the card,
 * sign in, top up through WeChat Pay (the sandbox pays and notifies), and read the balance and the ledger.
 * Run by tests/e2e/test_client_journey.py, which starts the stack and passes its URLs and a fresh merchant's appid.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { test } from "node:test";

import { KabaoClient, KabaoError } from "../src/kabao.js";
import { wx } from "./wx-fetch.js";

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run through tests/e2e/test_client_journey.py`);
  return value;
};

test("a member logs in, opens a card, tops up and sees the balance", async () => {
  const api = new KabaoClient({ baseUrl: env("KABAO_API_URL"), wx });
  const openid = `o-node-${randomUUID().slice(0, 8)}`;

  const login = await api.post("/v1/auth/login", { body: { appid: env("KABAO_APPID"), code: `test:${openid}` } });
  assert.equal(login.created, true);
  assert.equal(login.member.card, null);
  api.setToken(login.token);

  const bound = await api.post("/v1/me/phone", { body: { code: "phone:13800002222" } });
  assert.equal(bound.phone, "138****2222");
  const opened = await api.post("/v1/me/card", { body: { agreed_terms_version: login.merchant.terms_version } });
  assert.ok(opened.card?.number, "the card has a number once opened");

  const signIn = await api.post("/v1/me/sign-in");
  assert.equal(signIn.already_signed_in, false);
  assert.equal(signIn.member.points, signIn.points_earned);

  const { plans } = await api.get("/v1/topup/plans");
  const plan = plans[0];
  assert.ok(plan, "the merchant has top-up plans");
  const key = `journey-${randomUUID()}`;
  const order = await api.post("/v1/topup/orders", { body: { plan_id: plan.plan_id }, idempotencyKey: key });
  assert.equal(order.status, "PENDING");
  assert.ok(order.pay_params?.paySign, "pay_params are what wx.requestPayment takes (null once paid or closed)");
  const again = await api.post("/v1/topup/orders", { body: { plan_id: plan.plan_id }, idempotencyKey: key });
  assert.equal(again.order_id, order.order_id, "a retry with the same key is the same order");

  const paid = await fetch(`${env("KABAO_SANDBOX_URL")}/_sandbox/pay/${order.order_id}`, { method: "POST", body: "{}",
    headers: { "Content-Type": "application/json" } });
  assert.equal(paid.status, 200, await paid.text());
  const read = await api.get("/v1/topup/orders/{order_id}", { path: { order_id: order.order_id } });
  assert.equal(read.status, "PAID");

  const me = await api.get("/v1/me");
  assert.equal(me.principal, plan.amount);
  assert.equal(me.bonus, plan.bonus);
  assert.equal(me.balance, plan.amount + plan.bonus);
  const ledger = await api.get("/v1/me/ledger", { query: { account: "balance" } });
  assert.equal(ledger.entries.reduce((sum, e) => sum + e.amount, 0), me.balance);
});

test("errors arrive as KabaoError with the server's code", async () => {
  const api = new KabaoClient({ baseUrl: env("KABAO_API_URL"), wx });
  await assert.rejects(api.get("/v1/me"), (err: unknown) => {
    assert.ok(err instanceof KabaoError);
    assert.equal(err.status, 401);
    assert.equal(err.code, "UNAUTHENTICATED");
    return true;
  });
  await assert.rejects(api.post("/v1/auth/login", { body: { appid: env("KABAO_APPID"), code: "not-a-code" } }),
    (err: unknown) => err instanceof KabaoError && err.code === "INVALID_CODE" && err.status === 400);
  const login = await api.post("/v1/auth/login", { body: { appid: env("KABAO_APPID"), code: `test:o-${randomUUID()}` } });
  api.setToken(login.token);
  await assert.rejects(api.post("/v1/topup/orders", { body: { amount: 0 } }),
    (err: unknown) => err instanceof KabaoError && err.code === "VALIDATION_ERROR" && err.status === 400);
});
