"""CEL001's fix (transforms/blocking_subtask_wait.py): rewrite a task's waits on subtasks into
a chord or a chain. The entry point is `rewrite.rewrite`; rewrite.py's docstring maps the
other modules."""
