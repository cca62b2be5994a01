"""Deployment: the Lambda package, the SAM template, and merchant onboarding."""
