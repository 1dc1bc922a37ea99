#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod analysis;
pub mod cli;
pub mod index;
pub mod network;
pub mod plan;
pub mod programme;
pub mod model;
pub mod io;
pub mod config;
pub mod diag;
pub mod generate;
pub mod filter;
pub mod http;
pub mod serve;
pub mod report;
