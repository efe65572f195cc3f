//! The WebSocket plugin. (Implementation lands with the bridge issue.)
