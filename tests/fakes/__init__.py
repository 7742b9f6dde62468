"""Fakes at the boundaries of Caseroom: stand-ins for the services it talks to, for tests only."""
