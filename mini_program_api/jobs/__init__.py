"""Scheduled work: the due lists every job reads (`due`), and the one runner every job runs through."""
