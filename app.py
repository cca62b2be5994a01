"""Chalice entry point: the app and its blueprints, nothing else."""
from chalice import Chalice

from functions import lifecycle, report_jobs, topup_reconciliation
from mini_program_api.routes import admin, auth, coupons, gateway, me, openapi, reports, rewards, spending, staff, topup

app = Chalice(app_name="kabao")
for blueprint in (gateway.bp, openapi.bp, auth.bp, me.bp, spending.bp, topup.bp, coupons.bp, rewards.bp, staff.bp,
                  admin.bp, reports.bp, topup_reconciliation.bp, lifecycle.bp, report_jobs.bp):
    app.register_blueprint(blueprint)
