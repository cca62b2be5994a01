"""Stored-value top-ups through WeChat Pay: plans, orders credited exactly once, WeChat Pay's notifies,
reconciliation of what a notify missed, and refunds."""
