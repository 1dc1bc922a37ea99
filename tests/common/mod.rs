//! Helpers shared by integration tests.
#![allow(dead_code, reason = "each test binary uses a different subset")]

pub mod http;
pub mod network_oracle;
pub mod oracle;
pub mod programme;
pub mod server;
