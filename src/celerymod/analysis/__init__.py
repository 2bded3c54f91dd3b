"""Celery's view of a module and of the project (DESIGN §3), shared by the rules.

One question per module; rules ask `CeleryModule` (module.py), built once per parsed module
by `CeleryModule.from_context` and memoised, which stacks the layers below:

- vocabulary.py: Celery's own names, and the kinds of calls, canvases and origins.
- names.py: what a name means in the module (imports, bindings, libcst metadata).
- tasks.py: what is an app and what is a task.
- helpers.py: the plain functions a task reaches, and their parameters passed a result.
- origins.py, result_collections.py: where a result comes from.
- waits.py: what is a wait; shapes.py: what shape a task's waits form.
- arguments.py, records.py, syntax.py: a dispatch's arguments, the data handed to rules,
  small helpers on nodes.
- index.py: the project index (plain data, no libcst); indexing.py: one file's entry in it,
  read with the stdlib `ast` (ast_syntax.py: its helpers; known.py: Celery's names, shared
  with the libcst layers, no libcst).

This package imports no rule: a rule's fix lives with the rule (see transforms/).
"""
