"""movers: gainers, losers, gappers, % from open, volume, RVOL from per-second bars."""
