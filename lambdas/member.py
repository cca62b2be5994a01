"""The member audience's Lambda (handler `lambdas.member.app`): its routes alone (lambdas/audiences.py)."""

from lambdas.audiences import build

app = build("member")
