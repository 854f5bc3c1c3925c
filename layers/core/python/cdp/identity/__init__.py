"""Identity resolution: which profile a set of identifiers belongs to."""
