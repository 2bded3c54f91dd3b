"""One rule per module; each module's docstring is that rule's documentation."""
