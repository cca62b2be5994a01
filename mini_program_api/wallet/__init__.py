"""The member card in WeChat's card wallet (微信卡包会员卡): set-up, one-step activation, sync, events.

- `models.py`: the merchant's card (set-up and review state), each member's wallet card and sync state,
  and the dedupe marks of WeChat's event pushes;
- `setup.py`: the merchant's official account and the card's look, created/updated at WeChat;
- `activation.py`: the mini program's one-click activation, linking a WeChat card code to a kabao card;
- `outbox.py`: `mark`, staged in every transaction that changes what the card shows (ledger.stage, tiers);
- `sync.py`: the consumer pushing absolute values to WeChat (stream handler and scheduled sweep);
- `events.py`: WeChat's server pushes (verified, deduplicated).
"""
