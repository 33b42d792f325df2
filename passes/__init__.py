"""graphc.passes: graph-to-graph rewrites (the optimization pipeline arrives with the passes issue)."""
