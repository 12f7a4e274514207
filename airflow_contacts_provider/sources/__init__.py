"""Sources: where contacts come from (SQL connections, files on object storage)."""
