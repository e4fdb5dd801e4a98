"""AetherFlow execution."""
