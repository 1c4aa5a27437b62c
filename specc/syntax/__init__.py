"""The front end: grammar -> parse tree -> AST (torch-free)."""
