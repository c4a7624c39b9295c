"""Week 4 reference solutions."""
