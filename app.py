"""Chalice entry point: the app and its blueprints, nothing else."""
from chalice import Chalice

from functions import topup_reconciliation
from mini_program_api.routes import auth, coupons, me, topup

app = Chalice(app_name="kabao")
for blueprint in (auth.bp, me.bp, topup.bp, coupons.bp, topup_reconciliation.bp):
    app.register_blueprint(blueprint)
