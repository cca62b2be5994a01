"""The till audience's Lambda (handler `lambdas.till.app`): its routes alone (lambdas/audiences.py)."""

from lambdas.audiences import build

app = build("till")
