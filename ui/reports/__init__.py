"""Printed reports rendered with Qt (PDF), from the plain data the core's services return."""
