"""Merchants: who deploys kabao for which mini program, their settings, tiers and member days, and the back
office's audited changes to them."""
