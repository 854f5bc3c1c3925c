"""Journeys: definitions compiled to state machines, the router that enters and stops runs, and the dry run."""
