"""Week 2 reference solutions."""
