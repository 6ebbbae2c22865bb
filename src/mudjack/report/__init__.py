"""Results as files: Markdown tables, PNG figures, the results folder's index."""

from mudjack.report.images import save_bug_figures
from mudjack.report.outputs import check_outputs, write_index, write_outputs
from mudjack.report.tables import demo_table, to_markdown

__all__ = [
    "check_outputs",
    "demo_table",
    "save_bug_figures",
    "to_markdown",
    "write_index",
    "write_outputs",
]
