"""What every capability stands on: the clock, configuration, errors, ids, secrets, phone numbers at rest,
paging, session tokens and typed passwords. Nothing here knows a member, a merchant or a coupon."""
