"""Chalice entry point: the app with every audience's blueprints, nothing else.

Lambda runs one function per audience (lambdas/: the member's, WeChat's callbacks', the till's, the console's and
the jobs'), each declaring only its own routes; this union is what `chalice package` reads for the API's paths and
schedules, and what `make dev` and the tests serve (lambdas/audiences.py lists which blueprint is whose).
"""

from lambdas.audiences import AUDIENCES, build

app = build(*AUDIENCES)
