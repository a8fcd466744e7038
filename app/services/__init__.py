"""Services: one public method per user action, one unit of work, roles checked, audited."""
