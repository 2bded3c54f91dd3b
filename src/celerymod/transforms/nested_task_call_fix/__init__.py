"""CEL002's fix (transforms/nested_task_call.py): which waited calls of a project task can
become a plain call of a helper (sites.py, which CEL001 also asks through `claims`), and the
edits that do it (edits.py)."""
