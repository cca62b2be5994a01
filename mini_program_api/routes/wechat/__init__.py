"""The routes WeChat's servers call, anonymous and signed: WeChat Pay's notifies (topup.py) and the 卡包's card
events (wallet.py), on a Lambda of their own (the `wechat` audience, lambdas/audiences.py). Each module is named as the
member's module its routes came from, so their operation ids and tags in openapi.json are the same."""
