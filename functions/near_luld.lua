-- Near LULD band (prepended to rows.lua by store.py): pure, numbers in, a number out.
-- The distance of the last price to the nearer LULD band, in % of the last price (negative
-- when the price is outside the bands); nil while the row lacks the price or either band.
local function luld_distance_pct(last, upper, lower)
  if last == nil or upper == nil or lower == nil or last <= 0 then return nil end
  return math.min(upper - last, last - lower) / last * 100
end
