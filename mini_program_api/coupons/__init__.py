"""Coupons: templates and their sharded stock, the offer shelf, claims and gifts, a member's coupons, using them at
the till, the back office's template changes, and issue jobs that push a template to many members."""
