"""AetherFlow metrics."""
