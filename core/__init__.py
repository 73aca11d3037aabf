"""The bottom layer: framework-level helpers every app may use (it imports no app of this project)."""
