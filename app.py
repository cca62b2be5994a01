"""Chalice entry point: the app and its blueprints, nothing else."""
from chalice import Chalice

from functions import lifecycle, topup_reconciliation
from mini_program_api.routes import (accounts, admin, auth, counter, coupons, gateway, me, member_care, member_info,
                                     openapi, rewards, spending, staff, topup)

app = Chalice(app_name="kabao")
for blueprint in (gateway.bp, openapi.bp, auth.bp, me.bp, member_info.bp, spending.bp, topup.bp, coupons.bp, rewards.bp,
                  staff.bp, counter.bp, admin.bp, accounts.bp, member_care.bp, topup_reconciliation.bp, lifecycle.bp):
    app.register_blueprint(blueprint)
