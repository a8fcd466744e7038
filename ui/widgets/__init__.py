"""Reusable input widgets: the drug catalogue search field and the typed US date field."""
