"""Week 4 · Transfer learning: pretrained backbones, feature extraction, fine-tuning, both frameworks."""
