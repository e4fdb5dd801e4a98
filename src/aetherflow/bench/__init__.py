"""AetherFlow bench."""
