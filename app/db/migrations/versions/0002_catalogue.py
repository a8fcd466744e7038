"""catalogue: billing-quantity source, discontinued packages, last-seen snapshots, search index

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 20:00:00

The search index is backend-specific and invisible to autogenerate (see
app.db.models.managed_by_models): an FTS5 table over drug_packages on SQLite, trigram GIN
indexes on PostgreSQL. The importer fills it; no triggers, which would slow a bulk import.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# SQLite batch mode would rebuild drug_packages to add a constraint, and with foreign keys on
# dropping the old table fails once prescriptions point at it; SQLite's own ADD COLUMN takes
# REFERENCES and CHECK inline, so that dialect gets the columns in plain SQL.
_SQLITE_ADD_COLUMNS = (
    "ALTER TABLE drug_products ADD COLUMN last_seen_snapshot_id INTEGER "
    "CONSTRAINT fk_drug_products_last_seen_snapshot_id_catalogue_snapshots "
    "REFERENCES catalogue_snapshots (id)",
    "ALTER TABLE drug_products ADD COLUMN search_name VARCHAR(255) NOT NULL DEFAULT ''",
    "ALTER TABLE drug_packages ADD COLUMN billing_quantity_source VARCHAR(8) NOT NULL "
    "DEFAULT 'unknown' CONSTRAINT ck_drug_packages_billing_quantity_source "
    "CHECK (billing_quantity_source IN ('parsed', 'edited', 'unknown'))",
    "ALTER TABLE drug_packages ADD COLUMN discontinued BOOLEAN NOT NULL DEFAULT 0",
    "ALTER TABLE drug_packages ADD COLUMN physical_description TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE drug_packages ADD COLUMN last_seen_snapshot_id INTEGER "
    "CONSTRAINT fk_drug_packages_last_seen_snapshot_id_catalogue_snapshots "
    "REFERENCES catalogue_snapshots (id)",
    "ALTER TABLE drug_packages ADD COLUMN search_text TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE drug_packages ADD COLUMN search_ndc TEXT NOT NULL DEFAULT ''",
)


def _add_columns_postgresql() -> None:
    op.add_column("drug_products", sa.Column("last_seen_snapshot_id", sa.Integer()))
    op.add_column(
        "drug_products",
        sa.Column("search_name", sa.String(length=255), nullable=False, server_default=""),
    )
    op.create_foreign_key(
        op.f("fk_drug_products_last_seen_snapshot_id_catalogue_snapshots"),
        "drug_products",
        "catalogue_snapshots",
        ["last_seen_snapshot_id"],
        ["id"],
    )
    op.add_column(
        "drug_packages",
        sa.Column(
            "billing_quantity_source", sa.String(length=8), nullable=False, server_default="unknown"
        ),
    )
    op.add_column(
        "drug_packages",
        sa.Column("discontinued", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column(
        "drug_packages",
        sa.Column("physical_description", sa.Text(), nullable=False, server_default=""),
    )
    op.add_column("drug_packages", sa.Column("last_seen_snapshot_id", sa.Integer()))
    op.add_column(
        "drug_packages", sa.Column("search_text", sa.Text(), nullable=False, server_default="")
    )
    op.add_column(
        "drug_packages", sa.Column("search_ndc", sa.Text(), nullable=False, server_default="")
    )
    op.create_foreign_key(
        op.f("fk_drug_packages_last_seen_snapshot_id_catalogue_snapshots"),
        "drug_packages",
        "catalogue_snapshots",
        ["last_seen_snapshot_id"],
        ["id"],
    )
    op.create_check_constraint(
        op.f("ck_drug_packages_billing_quantity_source"),
        "drug_packages",
        "billing_quantity_source IN ('parsed', 'edited', 'unknown')",
    )


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in _SQLITE_ADD_COLUMNS:
            op.execute(statement)
    else:
        _add_columns_postgresql()

    op.create_index(
        op.f("ix_drug_products_search_name"), "drug_products", ["search_name"], unique=False
    )

    # Packages loaded before this revision had their billing quantity parsed when it is known.
    op.execute(
        "UPDATE drug_packages SET billing_quantity_source = 'parsed' "
        "WHERE billing_quantity IS NOT NULL"
    )

    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE catalogue_search USING fts5("
            "search_text, search_ndc, content='drug_packages', content_rowid='id', "
            "tokenize='unicode61', prefix='2', detail=column)"
        )
    else:
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute(
            "CREATE INDEX ix_drug_packages_search_text_trgm ON drug_packages "
            "USING gin ((' ' || search_text) gin_trgm_ops)"
        )
        op.execute(
            "CREATE INDEX ix_drug_packages_search_ndc_trgm ON drug_packages "
            "USING gin ((' ' || search_ndc) gin_trgm_ops)"
        )


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        # The batch rebuild below drops the inline foreign keys with their columns.
        op.execute("DROP TABLE IF EXISTS catalogue_search")
    else:
        op.execute("DROP INDEX IF EXISTS ix_drug_packages_search_ndc_trgm")
        op.execute("DROP INDEX IF EXISTS ix_drug_packages_search_text_trgm")
        op.drop_constraint(
            op.f("ck_drug_packages_billing_quantity_source"), "drug_packages", type_="check"
        )
        op.drop_constraint(
            op.f("fk_drug_packages_last_seen_snapshot_id_catalogue_snapshots"),
            "drug_packages",
            type_="foreignkey",
        )
        op.drop_constraint(
            op.f("fk_drug_products_last_seen_snapshot_id_catalogue_snapshots"),
            "drug_products",
            type_="foreignkey",
        )
    op.drop_index(op.f("ix_drug_products_search_name"), table_name="drug_products")
    with op.batch_alter_table("drug_packages", schema=None) as batch_op:
        if sqlite:
            batch_op.drop_constraint(
                op.f("ck_drug_packages_billing_quantity_source"), type_="check"
            )
        for column in (
            "search_ndc",
            "search_text",
            "last_seen_snapshot_id",
            "physical_description",
            "discontinued",
            "billing_quantity_source",
        ):
            batch_op.drop_column(column)
    with op.batch_alter_table("drug_products", schema=None) as batch_op:
        batch_op.drop_column("search_name")
        batch_op.drop_column("last_seen_snapshot_id")
