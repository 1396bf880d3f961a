//! Ownership: who owns which paths, read from CODEOWNERS, MAINTAINERS or
//! OWNERS files in the tree the investigation starts from.
