//! std adapter for [`picotrace`].
