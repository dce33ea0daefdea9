"""Exchange Contact Sync Workbench."""
