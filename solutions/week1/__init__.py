"""Week 1 · Neural-network fundamentals: tensors, activations and losses, backprop and optimizers by hand, an MLP."""
