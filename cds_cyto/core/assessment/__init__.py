"""The result of an evaluation: `Assessment`, its recommendations and its JSON contract (README, "Assessment JSON")."""
