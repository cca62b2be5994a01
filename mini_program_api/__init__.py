"""kabao: WeChat Mini Program membership cards on Lambda and DynamoDB.

Domain modules never import Chalice; `routes/` is the only HTTP-aware package.
"""
