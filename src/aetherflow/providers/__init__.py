"""AetherFlow providers."""
