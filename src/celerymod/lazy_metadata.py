"""Metadata resolved when a rule first reads it, not before the visit (engine.py).

libcst's `MetadataWrapper.visit_batched` resolves every provider the checkers declare over
the whole module up front. Most files the rules parse hold no task, and position, parent,
scope and qualified-name metadata together cost several times the parse: here each table is
computed on first read (the same tables, so the same findings), and qualified names only for
the nodes asked about.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping

import libcst as cst
from libcst.metadata import (
    BaseMetadataProvider,
    MetadataWrapper,
    QualifiedNameProvider,
    ScopeProvider,
)


class LazyMetadata(Mapping[type[BaseMetadataProvider[object]], Mapping[cst.CSTNode, object]]):
    """The metadata of one wrapper for the providers `declared`, each resolved on first
    read and kept (`in` and iteration do not resolve anything)."""

    def __init__(
        self,
        wrapper: MetadataWrapper,
        declared: Iterable[Collection[type[BaseMetadataProvider[object]]]],
    ) -> None:
        self._wrapper = wrapper
        self._providers = tuple(dict.fromkeys(p for group in declared for p in group))
        self._tables: dict[type[BaseMetadataProvider[object]], Mapping[cst.CSTNode, object]] = {}

    def __getitem__(
        self, provider: type[BaseMetadataProvider[object]]
    ) -> Mapping[cst.CSTNode, object]:
        if provider not in self._providers:
            raise KeyError(provider)
        table = self._tables.get(provider)
        if table is None:
            if provider is QualifiedNameProvider:
                scopes = self._tables.get(ScopeProvider)
                if scopes is None:
                    scopes = self._tables[ScopeProvider] = self._wrapper.resolve(ScopeProvider)
                table = _QualifiedNames(scopes)
            else:
                table = self._wrapper.resolve(provider)
            self._tables[provider] = table
        return table

    def __contains__(self, provider: object) -> bool:
        return provider in self._providers

    def __iter__(self) -> Iterator[type[BaseMetadataProvider[object]]]:
        return iter(self._providers)

    def __len__(self) -> int:
        return len(self._providers)


class _QualifiedNames(Mapping[cst.CSTNode, object]):
    """`QualifiedNameProvider`'s table computed per node when asked, from the scopes, as the
    provider does for every node of the module up front (`scope.get_qualified_names_for`;
    an empty set where a node has no scope). Rules ask about a few hundred nodes of a
    module's tens of thousands."""

    def __init__(self, scopes: Mapping[cst.CSTNode, object]) -> None:
        self._scopes = scopes

    def __getitem__(self, node: cst.CSTNode) -> object:
        scope = self._scopes.get(node)
        if not scope:
            return set()
        return scope.get_qualified_names_for(node)  # type: ignore[attr-defined]

    def __iter__(self) -> Iterator[cst.CSTNode]:
        return iter(self._scopes)

    def __len__(self) -> int:
        return len(self._scopes)
