"""Customer data platform domain code, shipped to every function as the CoreLayer."""
