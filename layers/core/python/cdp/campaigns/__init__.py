"""Scheduled campaigns: a definition as data, a run that fans the audience out to a queue, a worker that sends."""
