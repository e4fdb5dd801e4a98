"""AetherFlow emulator."""
