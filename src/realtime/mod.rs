//! Real-time delivery: the [`hub::Hub`] turns stored events into frames and routes each
//! to the sockets allowed to see it; [`ws`] is one socket's life.
pub mod hub;
pub mod ws;
