"""Reports and segments (issue 14): counters kept in the transaction of the event they count, the
admin reports read from them, the stored-value liability check and RFM segments. See README.md here."""
