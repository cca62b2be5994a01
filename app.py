"""Chalice entry point: the app and its blueprints, nothing else."""
from chalice import Chalice

from functions import lifecycle, topup_reconciliation, wallet_sync
from mini_program_api.routes import admin, auth, coupons, gateway, me, openapi, rewards, spending, staff, topup, wallet

app = Chalice(app_name="kabao")
for blueprint in (gateway.bp, openapi.bp, auth.bp, me.bp, spending.bp, topup.bp, coupons.bp, rewards.bp, staff.bp,
                  admin.bp, wallet.bp, topup_reconciliation.bp, lifecycle.bp, wallet_sync.bp):
    app.register_blueprint(blueprint)
