"""Members: first login, phone, the card and its number, member codes, sign-in, tiers, referrals, the welcome
gift, the life cycle the scheduled jobs keep (expiry, reminders, birthdays, wake-ups, reviews), subscribe
messages, and the list of a member's orders."""
