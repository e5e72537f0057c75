"""Hostile input at volume: a generator of bad inputs (stress.hostile), a harness that feeds them
to a real stack and worker and classifies every outcome (stress.harness), and `make stress`
(stress.__main__) which runs >= 1,000 of them against a private stack."""
