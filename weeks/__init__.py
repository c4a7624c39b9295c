"""Reference solutions: the single source from which weeks/ is generated (`workbook release`)."""
