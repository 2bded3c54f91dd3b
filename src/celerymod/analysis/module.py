"""What counts as a Celery task, a result and a wait on it (DESIGN §3), shared by the rules.

Names are resolved through imports with libcst's scope and qualified-name metadata, never
by matching the text of the source: `invoke`'s `@task` is not Celery's, a local variable
called `group` is not `celery.group`. (The index pass, `indexing.index_file`, answers the
same questions on the stdlib `ast` through the module-level imports and bindings only, which
is what decorators need and far cheaper; a test holds it equal to `index_entry`.)

How to use it (CEL001 does exactly this):

    celery = CeleryModule(module, metadata, ...)   # metadata: a checker's `self.metadata`
    for task in celery.tasks:                       # every task defined in the module
        waits = celery.waits(task)                  # every wait on a result in its body
        for shape in classify(waits): ...           # grouped as DESIGN §2's table names them
        celery.bare_workarounds(task)               # `with allow_join_result():` with no wait

`WaitSite.origin` (a `ResultOrigin`) says what produced the waited result: which call
(`delay`, `apply_async`, ...), on which task or canvas, with which arguments
(`call_arguments`); `WaitSite` says where the wait sits in the task body. Nothing here
rewrites anything. The heuristics are documented where they are decided, and for users in
the CEL001 rule docs.

`CeleryModule` is a façade: each question is answered by one layer, in its own module,
stacked by inheritance so that every layer shares one memo and one set of metadata. From the
bottom: `ModuleNames` (names.py: what a name means), `AppsAndTasks` (tasks.py),
`TaskHelpers` (helpers.py), `ResultOrigins` (origins.py), `ResultCollections`
(result_collections.py), `Waits` (waits.py). Origins, collections and helper parameters
recurse into each other; a lower layer declares what it calls in a higher one under
`TYPE_CHECKING`.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, ClassVar

import libcst as cst

from celerymod.analysis.vocabulary import Metadata
from celerymod.analysis.waits import Waits
from celerymod.transforms.base import walk

if TYPE_CHECKING:
    from celerymod.transforms.base import ModuleContext


class CeleryModule(Waits):
    """Celery's view of one parsed module: its apps, its tasks, and the waits in each task.

    `metadata` must hold the providers in `METADATA` for `module` (a checker's
    `self.metadata`, or `MetadataWrapper(module).resolve_many(METADATA)`).
    `module_name` is the file's dotted module name (for relative imports and the qualified
    names of its tasks); `index` knows the other scanned modules.
    """

    _last: ClassVar[tuple[object, cst.Module, CeleryModule] | None] = None  # `from_context`

    @cached_property
    def spelled_names(self) -> frozenset[str]:
        """Every name spelled anywhere in the module: a new name that is none of them
        clashes with nothing. Computed once: each CEL001 fix of the module asks for it, and a
        walk per fix made fixing a module quadratic in its size."""
        return frozenset(n.value for n in walk(self.module) if isinstance(n, cst.Name))

    @cached_property
    def imports_star(self) -> bool:
        """Whether the module has `from x import *` (only legal at module level), which may
        bind any name."""
        return any(
            isinstance(small, cst.ImportFrom) and isinstance(small.names, cst.ImportStar)
            for statement in self.module.body
            if isinstance(statement, cst.SimpleStatementLine)
            for small in statement.body
        )

    @classmethod
    def from_context(
        cls, module: cst.Module, metadata: Metadata, context: ModuleContext
    ) -> CeleryModule:
        """The analysis of `module`, shared by every rule's checker of one batched visit
        (the same tree, metadata and context): tasks, origins and waits are found once."""
        key = (id(module), id(context), frozenset(metadata))
        last = cls._last
        if last is not None and last[0] == key and last[1] is module:
            return last[2]
        celery = cls(
            module,
            metadata,
            path=context.path,
            module_name=context.module_name,
            task_decorators=context.config.task_decorators,
            index=context.index,
        )
        # Only the latest: a worker process analyses one module at a time, and an older
        # entry would keep its whole tree alive.
        cls._last = (key, module, celery)
        return celery
