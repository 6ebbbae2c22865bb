"""Figures and tables from results."""

from mudjack.report.images import save_bug_figures

__all__ = ["save_bug_figures"]
