"""The shared shape of our table models: a list of frozen rows, one header per column."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Generic, TypeVar

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt

Row = TypeVar("Row")
AnyIndex = QModelIndex | QPersistentModelIndex

ROW_ROLE = Qt.ItemDataRole.UserRole + 1


class RowTableModel(QAbstractTableModel, Generic[Row]):
    """Subclasses name their columns and say how one cell of one row is shown."""

    HEADERS: tuple[str, ...] = ()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[Row] = []
        self._sort_column = -1
        self._sort_order = Qt.SortOrder.AscendingOrder

    @property
    def rows(self) -> Sequence[Row]:
        return tuple(self._rows)

    def set_rows(self, rows: Iterable[Row]) -> None:
        self.beginResetModel()
        self._rows = self._sorted(list(rows))
        self.endResetModel()

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Sort in Python with one key per row; a sorting proxy calls data() per comparison.

        Selections and other persistent indexes follow their rows to the new positions.
        """
        self._sort_column, self._sort_order = column, order
        self.layoutAboutToBeChanged.emit()
        persistent = self.persistentIndexList()
        followed = [self._rows[index.row()] for index in persistent]
        self._rows = self._sorted(self._rows)
        position = {id(row): number for number, row in enumerate(self._rows)}
        self.changePersistentIndexList(
            persistent,
            [
                self.index(position[id(row)], index.column())
                for row, index in zip(followed, persistent, strict=True)
            ],
        )
        self.layoutChanged.emit()

    def _sorted(self, rows: list[Row]) -> list[Row]:
        if not 0 <= self._sort_column < len(self.HEADERS):
            return rows
        column = self._sort_column
        return sorted(
            rows,
            key=lambda row: self.sort_key(row, column),
            reverse=self._sort_order == Qt.SortOrder.DescendingOrder,
        )

    def update_row(self, position: int, row: Row) -> None:
        self._rows[position] = row
        self.dataChanged.emit(self.index(position, 0), self.index(position, len(self.HEADERS) - 1))

    def row_at(self, position: int) -> Row:
        return self._rows[position]

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008 (Qt's signature)
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008 (Qt's signature)
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(
        self,
        section: int,
        orientation: Qt.Orientation,
        role: int = Qt.ItemDataRole.DisplayRole,
    ) -> Any:
        if (
            orientation == Qt.Orientation.Horizontal
            and role == Qt.ItemDataRole.DisplayRole
            and 0 <= section < len(self.HEADERS)
        ):
            return self.HEADERS[section]
        return None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._rows):
            return None
        row = self._rows[index.row()]
        column = index.column()
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            return self.display(row, column)
        if role == ROW_ROLE:
            return row
        return self.decorate(row, column, role)

    def display(self, row: Row, column: int) -> str:
        raise NotImplementedError

    def sort_key(self, row: Row, column: int) -> Any:
        return self.display(row, column)

    def decorate(self, row: Row, column: int, role: int) -> Any:
        """Colours, alignment and tool tips; none by default."""
        return None
