"""Storage: models, engine set-up, migrations and backups."""
