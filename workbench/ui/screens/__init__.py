"""One module per dashboard screen (one per app mode)."""
