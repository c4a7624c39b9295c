"""Week 3 reference solutions."""
