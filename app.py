"""Chalice entry point: the app and its blueprints, nothing else."""

from chalice import Chalice

from functions import issue_jobs as issue_job_runs
from functions import lifecycle, member_jobs, report_jobs, topup_reconciliation, wallet_sync
from mini_program_api.routes import (
    accounts,
    admin,
    auth,
    console,
    coupons,
    gateway,
    issue_jobs,
    me,
    member_care,
    member_info,
    openapi,
    reports,
    rewards,
    spending,
    till,
    topup,
    wallet,
)

app = Chalice(app_name="kabao")
for blueprint in (
    gateway.bp,
    openapi.bp,
    auth.bp,
    me.bp,
    member_info.bp,
    spending.bp,
    topup.bp,
    coupons.bp,
    rewards.bp,
    till.bp,
    admin.bp,
    accounts.bp,
    member_care.bp,
    issue_jobs.bp,
    wallet.bp,
    reports.bp,
    topup_reconciliation.bp,
    lifecycle.bp,
    issue_job_runs.bp,
    member_jobs.bp,
    wallet_sync.bp,
    report_jobs.bp,
    console.bp,
):
    app.register_blueprint(blueprint)
