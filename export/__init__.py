"""The model organism's pipeline: one file per stage (see README.md, "For maintainers")."""
