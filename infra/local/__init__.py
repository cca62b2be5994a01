"""The local stack: DynamoDB Local, the WeChat sandbox, the API on loopback, and the demo seed."""
