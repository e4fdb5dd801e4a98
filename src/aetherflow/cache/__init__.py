"""AetherFlow cache."""
