//! RFC 6455 protocol core. (Implementation lands with the ws issue.)
