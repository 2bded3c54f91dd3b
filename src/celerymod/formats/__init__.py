"""Machine-readable outputs of `celerymod check` for CI systems: GitHub annotations and SARIF.

These modules build plain strings and dicts; they never print and never import rich (the
`report` module stays the one that does). The CLI writes what they return.
"""
