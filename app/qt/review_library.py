"""Choose a session from the session library, by subject and date."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLineEdit,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from data.library import list_sessions


class LibraryDialog(QDialog):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Open a session from the library")
        self.chosen = ""
        layout = QVBoxLayout(self)
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("subject id (part is enough)")
        self.filter.textChanged.connect(self.refresh)
        layout.addWidget(self.filter)
        self.table = QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(["subject", "date (UTC)", "protocol", "steps",
                                              "state / problem"])  # fmt: skip
        self.table.cellDoubleClicked.connect(lambda row, _c: self._choose(row))
        layout.addWidget(self.table)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Open
                                   | QDialogButtonBox.StandardButton.Cancel)  # fmt: skip
        buttons.accepted.connect(lambda: self._choose(self.table.currentRow()))
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.entries = []
        self.refresh()
        self.resize(800, 500)

    def refresh(self) -> None:
        self.entries = list(reversed(list_sessions(self.filter.text() or None)))  # newest first
        self.table.setRowCount(len(self.entries))
        for row, e in enumerate(self.entries):
            cells = [e.subject_id, e.created_utc[:16].replace("T", " "), e.protocol_name,
                     str(e.stances), e.problem or e.recording_state]  # fmt: skip
            for col, text in enumerate(cells):
                self.table.setItem(row, col, QTableWidgetItem(text))
        self.table.resizeColumnsToContents()

    def _choose(self, row: int) -> None:
        if 0 <= row < len(self.entries):
            self.chosen = self.entries[row].path
            self.accept()
