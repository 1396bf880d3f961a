//! Scratch checkouts for `rca bisect` (filled in below).
