"""The workbook's autograder: `pytest autograder` grades weeks/, `pytest autograder --solutions` grades solutions/."""
