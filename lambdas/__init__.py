"""What each Lambda function imports: one entry per audience, each declaring only its own routes (`audiences.py`)."""
