"""Auditor reports: the transparency report, operational metrics, case dossiers, and their CSV/PDF outputs."""
