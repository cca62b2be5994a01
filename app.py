"""Chalice entry point: the app and its blueprints, nothing else."""

from chalice import Chalice

from functions import issue_jobs as issue_job_runs
from functions import lifecycle, member_jobs, report_jobs, topup_reconciliation, wallet_sync
from functions import member_imports as member_import_runs
from functions import reported as scheduled_runs
from functions import webhooks as webhook_runs
from mini_program_api.routes import (
    accounts,
    admin,
    auth,
    console,
    coupons,
    data_rights,
    gateway,
    issue_jobs,
    me,
    member_care,
    member_imports,
    member_info,
    openapi,
    reports,
    rewards,
    spending,
    till,
    topup,
    wallet,
    webhooks,
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
    data_rights.bp,
    issue_jobs.bp,
    member_imports.bp,
    wallet.bp,
    reports.bp,
    topup_reconciliation.bp,
    lifecycle.bp,
    issue_job_runs.bp,
    member_import_runs.bp,
    member_jobs.bp,
    wallet_sync.bp,
    webhooks.bp,
    webhook_runs.bp,
    report_jobs.bp,
    scheduled_runs.bp,
    console.bp,
):
    app.register_blueprint(blueprint)
