"""What operations sees: one JSON log line per request or job run (logs.py) and CloudWatch metrics in
Embedded Metric Format (metrics.py, through Powertools for AWS Lambda), both written to stdout, which
Lambda ships to CloudWatch Logs (EMF lines become metrics there, with no API call or IAM).

The log lines are the standard library's logging (logs.py says why); Powertools is imported on first use by
a path that emits a metric or reads SSM, not at import: `import app` is what a cold start pays for.
"""
