"""refdata: the once-a-day load of reference data (previous close, volume history, profile)."""
