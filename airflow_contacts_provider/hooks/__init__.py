"""Hooks: one per email-service provider, sharing HTTP mechanics in base.py."""
