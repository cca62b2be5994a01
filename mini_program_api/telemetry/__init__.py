"""What operations sees: one JSON log line per request or job run (logs.py) and CloudWatch metrics in
Embedded Metric Format (metrics.py), both written to stdout, which Lambda ships to CloudWatch Logs (EMF
lines become metrics there, with no API call or IAM).

Both are the standard library's (logs.py and metrics.py say why): the lines Powertools for AWS Lambda wrote
before, without its import on a request's cold start.
"""
