"""Why a model predicts what it does, in both frameworks: Grad-CAM heatmaps and their overlays."""
