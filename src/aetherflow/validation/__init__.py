"""AetherFlow validation."""
