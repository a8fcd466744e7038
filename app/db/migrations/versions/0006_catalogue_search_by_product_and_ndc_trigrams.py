"""catalogue search: words per product, NDC fragments by trigrams

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 09:00:00

The search words move from each package to its product (they are the product's words, repeated
on every package), and `drug_packages.search_ndc` holds the NDC's 10 and 11 digits instead of
every 4+ digit suffix of both: indexing those suffixes was most of a first import's index time.
SQLite: `catalogue_search` becomes an FTS5 table over drug_products.search_text (a prefix
index for two characters; no positions, which search never uses) and the new
`catalogue_search_ndc` an FTS5 trigram table over drug_packages.search_ndc, queried with LIKE
(the trigram tokenizer needs SQLite 3.34, dropping a column 3.35). PostgreSQL: the same columns
under trigram GIN indexes, and the search name index in byte order (COLLATE "C"). A catalogue
already imported is converted and its indexes rebuilt here.
"""

import sqlite3
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.errors import EnvironmentFault

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SQLITE_NEEDED = (3, 35, 0)
_SQLITE_INDEXES = (
    "CREATE VIRTUAL TABLE catalogue_search USING fts5(search_text, content='drug_products', "
    "content_rowid='id', tokenize='unicode61', prefix='2', detail=none, columnsize=0)",
    "CREATE VIRTUAL TABLE catalogue_search_ndc USING fts5(search_ndc, content='drug_packages', "
    "content_rowid='id', tokenize='trigram', detail=none, columnsize=0)",
    "INSERT INTO catalogue_search(catalogue_search) VALUES ('rebuild')",
    "INSERT INTO catalogue_search_ndc(catalogue_search_ndc) VALUES ('rebuild')",
)
_POSTGRESQL_INDEXES = (
    "CREATE INDEX ix_drug_products_search_text_trgm ON drug_products "
    "USING gin ((' ' || search_text) gin_trgm_ops)",
    "CREATE INDEX ix_drug_packages_search_ndc_trgm ON drug_packages "
    "USING gin (search_ndc gin_trgm_ops)",
    # Search ranks names in byte order, as SQLite does, whatever the server's locale: the index
    # in that order lets a search walk the names in order and stop at a full page.
    "DROP INDEX ix_drug_products_search_name",
    'CREATE INDEX ix_drug_products_search_name ON drug_products (search_name COLLATE "C")',
)


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def upgrade() -> None:
    sqlite = _sqlite()
    if sqlite and sqlite3.sqlite_version_info < _SQLITE_NEEDED:
        raise EnvironmentFault(
            f"RxBench needs SQLite {'.'.join(map(str, _SQLITE_NEEDED))} or newer for its drug "
            f"catalogue search; this installation has SQLite {sqlite3.sqlite_version}. Install "
            "the current RxBench package, which brings its own."
        )
    op.add_column(
        "drug_products", sa.Column("search_text", sa.Text(), nullable=False, server_default="")
    )
    # Every package of a product carried the product's words. A product without packages had
    # none; search finds packages, so it is never a hit, and the next import fills it.
    op.execute(
        "UPDATE drug_products SET search_text = COALESCE((SELECT search_text FROM drug_packages "
        "WHERE drug_packages.product_id = drug_products.id ORDER BY drug_packages.id LIMIT 1), '')"
    )
    op.execute("UPDATE drug_packages SET search_ndc = replace(ndc, '-', '') || ' ' || ndc11")
    if sqlite:
        op.execute("DROP TABLE catalogue_search")
        op.execute("ALTER TABLE drug_packages DROP COLUMN search_text")
        for statement in _SQLITE_INDEXES:
            op.execute(statement)
    else:
        op.execute("DROP INDEX ix_drug_packages_search_text_trgm")
        op.execute("DROP INDEX ix_drug_packages_search_ndc_trgm")
        op.drop_column("drug_packages", "search_text")
        for statement in _POSTGRESQL_INDEXES:
            op.execute(statement)


def _suffix_tokens(ndc: str, ndc11: str) -> str:
    """Revision 0005's search_ndc: every suffix of 4+ digits of the 10- and 11-digit forms."""
    digits = ndc.replace("-", "")
    tokens = dict.fromkeys(
        form[start:] for form in (digits, ndc11) for start in range(len(form) - 3)
    )
    return " ".join(tokens)


def downgrade() -> None:
    sqlite = _sqlite()
    if sqlite:
        op.execute("DROP TABLE catalogue_search_ndc")
        op.execute("DROP TABLE catalogue_search")
    else:
        op.execute("DROP INDEX ix_drug_packages_search_ndc_trgm")
        op.execute("DROP INDEX ix_drug_products_search_text_trgm")
        op.execute("DROP INDEX ix_drug_products_search_name")
        op.execute("CREATE INDEX ix_drug_products_search_name ON drug_products (search_name)")
    op.add_column(
        "drug_packages", sa.Column("search_text", sa.Text(), nullable=False, server_default="")
    )
    op.execute(
        "UPDATE drug_packages SET search_text = (SELECT search_text FROM drug_products "
        "WHERE drug_products.id = drug_packages.product_id)"
    )
    bind = op.get_bind()
    packages = sa.table(
        "drug_packages",
        sa.column("id"),
        sa.column("ndc"),
        sa.column("ndc11"),
        sa.column("search_ndc"),
    )
    tokens = [
        {"package_id": package_id, "tokens": _suffix_tokens(ndc, ndc11)}
        for package_id, ndc, ndc11 in bind.execute(
            sa.select(packages.c.id, packages.c.ndc, packages.c.ndc11)
        )
    ]
    if tokens:
        bind.execute(
            packages.update()
            .where(packages.c.id == sa.bindparam("package_id"))
            .values(search_ndc=sa.bindparam("tokens")),
            tokens,
        )
    if sqlite:
        op.execute("ALTER TABLE drug_products DROP COLUMN search_text")
        op.execute(
            "CREATE VIRTUAL TABLE catalogue_search USING fts5("
            "search_text, search_ndc, content='drug_packages', content_rowid='id', "
            "tokenize='unicode61', prefix='2', detail=column)"
        )
        op.execute("INSERT INTO catalogue_search(catalogue_search) VALUES ('rebuild')")
    else:
        op.drop_column("drug_products", "search_text")
        op.execute(
            "CREATE INDEX ix_drug_packages_search_text_trgm ON drug_packages "
            "USING gin ((' ' || search_text) gin_trgm_ops)"
        )
        op.execute(
            "CREATE INDEX ix_drug_packages_search_ndc_trgm ON drug_packages "
            "USING gin ((' ' || search_ndc) gin_trgm_ops)"
        )
