"""Plain text classification for any labels: the recipe to copy for your own labelled text."""
