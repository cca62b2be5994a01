"""Webhooks to the merchant's own systems (POS, ERP): endpoints, the outbox written in each event's
transaction, and the delivery job that signs (Standard Webhooks) and sends, in order per member."""
