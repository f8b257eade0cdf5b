"""The soak run: a bounded loopback load with faults, against the real demo server.

``make soak`` (or ``python -m soak.run``) drives it; ``tests/faults`` reuses
its pieces for the short fault tests inside ``make test``.
"""
