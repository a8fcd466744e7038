"""Prescription labels drawn with QPainter: layout, barcode, PDF export and printing."""
