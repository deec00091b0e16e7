"""Recommendations: the table of rules (code, title, thresholds, citation) and the engines that fire them."""
