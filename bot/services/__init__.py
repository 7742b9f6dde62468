"""Use cases with no Bolt types: lookup, identity, audit, channels, payments...

Services take a `Runtime` and typed values, raise typed errors, and never talk to Bolt directly.
"""
