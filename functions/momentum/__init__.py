"""momentum: 1/5-minute change, tape speed, 1-minute dollar volume, new highs, from trades."""
