"""The alert pipeline: rule × window → search → alerts → sink → checkpoint."""
