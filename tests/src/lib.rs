//! Cross-crate tests for picotrace live in `tests/tests/`.
