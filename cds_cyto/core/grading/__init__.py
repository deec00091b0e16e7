"""Grading: CTCAE per value, episodes and recovery, prolonged toxicity at day 28, ICAHT and T-ICAHT."""
