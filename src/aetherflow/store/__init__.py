"""AetherFlow store."""
