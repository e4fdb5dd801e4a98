"""AetherFlow routing."""
