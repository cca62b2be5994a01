"""The money core: the ledger (every balance change an immutable entry in the balance's own transaction),
exactly-once operations (one record per idempotency key, in that same transaction), and how stored value is
spent. Points, principal, bonus, growth and punch-card uses change only through `ledger.post`/`ledger.stage`."""
