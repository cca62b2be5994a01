"""Deployment definition and the local stack (embedded DynamoDB, WeChat sandbox)."""
