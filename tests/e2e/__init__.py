"""End-to-end journeys: the real shop and sandbox, driven in Debian's Chromium."""
