"""AetherFlow report."""
