"""What operations sees: one JSON log line per request or job run (logs.py) and CloudWatch metrics in
Embedded Metric Format (metrics.py), both through Powertools for AWS Lambda, both written to stdout,
which Lambda ships to CloudWatch Logs (EMF lines become metrics there, with no API call or IAM).

Powertools is imported on first use, not at import: `import app` is what a cold start pays for.
"""
