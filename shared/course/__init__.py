"""An nbgrader course made from the workbook: `workbook nbgrader DIR` (export.py), and what its notebooks run
(check.py, which grades with the workbook's own autograder tests)."""
