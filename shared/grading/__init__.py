"""The autograder's machinery: which tree is graded, how exercises are imported, points and the scoreboard."""
