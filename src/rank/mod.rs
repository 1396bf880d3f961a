//! rank/mod
