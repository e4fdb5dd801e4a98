"""AetherFlow cli."""
