//! Real-time delivery: the [`hub::Hub`] turns stored events into frames and routes each
//! to the sockets allowed to see it.
pub mod hub;
