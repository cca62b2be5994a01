"""The merchant's people and places: stores, staff and admin accounts with their sessions, and the audit
trail of everything they do."""
