"""File-drop ingestion: read an export, clean it, quarantine rejects, land curated rows, update profiles."""
