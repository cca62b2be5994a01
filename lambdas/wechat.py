"""WeChat's callbacks' Lambda (handler `lambdas.wechat.app`): WeChat Pay's notifies and the 卡包's card events alone
(lambdas/audiences.py)."""

from lambdas.audiences import build

app = build("wechat")
