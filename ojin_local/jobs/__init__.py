"""The job queue (Huey) and the consumers that run it: embedded in `serve`, or `ojin-local worker`.

Domain rules for jobs live in `ojin_local.domain.jobs`; this package only moves job ids from the
API to a worker and runs the periodic garbage collection.
"""
