"""Column-wise validation and standardisation of ingested tables, with a reason for every rejected row."""
