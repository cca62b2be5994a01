"""Chalice entry point: the app and its blueprints, nothing else."""
from chalice import Chalice

from mini_program_api.routes import auth, me

app = Chalice(app_name="kabao")
app.register_blueprint(auth.bp)
app.register_blueprint(me.bp)
