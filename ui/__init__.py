"""The RxBench desktop window (PySide6): main window, docks, item models and dialogs."""
