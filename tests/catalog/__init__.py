"""The catalog: files imported and exported, and the commands that do it."""
