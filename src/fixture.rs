//! Fixture repositories: YAML descriptions of small synthetic monorepos,
//! built into real git repositories with fixed signatures and times.
