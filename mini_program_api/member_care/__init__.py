"""Finding and helping one member from the back office: search by phone, card, scanned code or id
(`search`), and the manual adjustments an admin makes with a reason (`adjustments`)."""
