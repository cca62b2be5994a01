"""DynamoDB access: the single-table schema, the PynamoDB models and transactions."""
