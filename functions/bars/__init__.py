"""bars: the day's minute bars (AM) and halt history (LULD) that the symbol view charts."""
