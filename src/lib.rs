//! Parquetry: an HTTP service that turns CSV uploads into Parquet files.
//!
//! The conversion itself lives in the `parquetry-convert` crate; this crate is
//! the service around it: the HTTP API (`http`), the job table (`jobs`), the
//! background workers (`worker`), file storage (`storage`) and telemetry.

pub mod cli;
pub mod config;
pub mod error_code;
pub mod http;
pub mod jobs;
pub mod rfc3339;
pub mod startup;
pub mod storage;
pub mod telemetry;
pub mod tls;
pub mod web;
pub mod webhooks;
pub mod worker;
