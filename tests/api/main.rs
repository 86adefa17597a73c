//! Integration suites: the real server on 127.0.0.1, a temporary SQLite file, real HTTP.
//! One test binary (one link) for all suites.

mod email;
mod nodes;
mod realtime;
mod smoke;
mod smtp;
mod support;
mod wsclient;
