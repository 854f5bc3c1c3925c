"""Journey steps: who may be messaged now, and sending each message exactly once."""
