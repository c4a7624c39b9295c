"""What every week and both frameworks share: data, metrics, timing, plots, the report and the `workbook` command."""
