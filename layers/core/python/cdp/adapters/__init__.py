"""Small adapters between the domain and AWS services; the only modules that talk to boto3."""
