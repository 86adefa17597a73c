//! Integration suites: the real server on 127.0.0.1, a temporary SQLite file, real HTTP.
//! One test binary (one link) for all suites.

mod access;
mod assets;
mod attachments;
mod backup;
mod canned;
mod crash;
mod dba;
mod doctor;
mod email;
mod host;
mod input;
mod metrics;
mod nodes;
mod notes;
mod ratings;
mod realtime;
mod reports;
mod routing;
mod sessions;
mod smoke;
mod smtp;
mod support;
mod telemetry;
mod transitions;
mod webhooks;
mod wsclient;
