"""What a model is made of, in both frameworks: a layer table (`table.py`) and a drawn block diagram (`diagram.py`)."""
