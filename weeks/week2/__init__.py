"""Week 2 · Building with PyTorch: Dataset and DataLoader, a CNN, the training loop, a Keras twin, an LSTM."""
