"""Week 1 reference solutions."""
