//! picotrace examples: see `src/bin/`.
