//! The C ABI (see docs/embedding.md).
