"""halts: LULD bands and trading halts/resumes."""
