//! Integration tests: the real HTTP server, real PostgreSQL (a fresh database
//! per test), real files, and for telemetry a real OTLP receiver.

mod answers;
mod cli;
mod client;
mod db_spans;
mod fairness;
mod follow;
mod hardening;
mod head_start;
mod helpers;
mod http_telemetry;
mod inspect;
mod jobs_lifecycle;
mod keys_cli;
mod links;
mod openapi;
mod otlp_receiver;
mod outages;
mod preview;
mod queue;
mod quotas;
mod real_files;
mod results;
mod s3;
mod startup;
mod store;
mod telemetry;
mod tenants;
mod upload;
mod upload_checks;
mod web_page;
mod webhooks;
mod worker_metrics;
mod workers;
