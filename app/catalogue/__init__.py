"""The drug catalogue: reading the FDA NDC Directory download."""
