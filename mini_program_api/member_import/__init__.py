"""Member import: a merchant's members brought from another system (a file), checked row by row, then created
or merged with their opening balances (ledger kind IMPORT), as a resumable job: files.py (the stores and
reading), rows.py (a row's rules), jobs.py (the check, the run)."""
