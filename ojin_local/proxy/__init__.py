"""Fidelity you can check: a validating proxy to an Ojin API, HAR recordings, and replay.

`ojin-local proxy` forwards /v1 to an upstream (the real service) and checks every exchange
against the seed spec; `--record` writes them as HAR 1.2. `ojin-local replay` sends a
recording's requests to another API (normally ojin-local) and reports where the answers differ.
"""
