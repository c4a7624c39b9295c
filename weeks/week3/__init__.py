"""Week 3 · Training deep models: schedules, regularisation, augmentation, callbacks, checkpoints, mixed precision."""
