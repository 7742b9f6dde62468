"""Caseroom: Debitura collection cases in Slack."""

__version__ = "0.1.0"
