"""The console audience's Lambda (handler `lambdas.console.app`): its routes alone (lambdas/audiences.py)."""

from lambdas.audiences import build

app = build("console")
