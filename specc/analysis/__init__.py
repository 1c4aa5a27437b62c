"""Analysis: names, shapes and types over the AST, producing the IR (torch-free)."""
