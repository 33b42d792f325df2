"""The ``graphc`` command and the inspection tools behind it (docs/tools.md)."""
