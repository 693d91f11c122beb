//! The transport: one WebSocket carrying JSON text frames, plus the few runtime services the
//! connection task needs (spawn, sleep). The only place where the target decides the code.

#[cfg(not(target_arch = "wasm32"))]
mod native;
#[cfg(not(target_arch = "wasm32"))]
pub(crate) use native::{Link, connect, sleep, spawn};
