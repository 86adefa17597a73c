//! Per-address rate limits for login and guest start (429 with `Retry-After`).

use crate::config::Settings;
use crate::error::ApiError;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::net::IpAddr;
use std::num::NonZeroU32;

pub struct RateLimits {
    login: DefaultKeyedRateLimiter<IpAddr>,
    guest_start: DefaultKeyedRateLimiter<IpAddr>,
    host_sign_in: DefaultKeyedRateLimiter<IpAddr>,
    /// Proxies whose `X-Forwarded-For` names the client (see [`crate::clientip`]).
    pub trusted_proxies: Vec<crate::clientip::Net>,
}

fn per_minute(n: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN))
}

fn check(limiter: &DefaultKeyedRateLimiter<IpAddr>, ip: IpAddr) -> Result<(), ApiError> {
    limiter.check_key(&ip).map_err(|not_until| {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        ApiError::RateLimited(wait.as_secs().max(1))
    })
}

impl RateLimits {
    pub fn new(s: &Settings) -> Self {
        RateLimits {
            login: RateLimiter::keyed(per_minute(s.login_rate_per_minute)),
            guest_start: RateLimiter::keyed(per_minute(s.guest_start_rate_per_minute)),
            host_sign_in: RateLimiter::keyed(per_minute(s.host_sign_in_rate_per_minute)),
            // Checked at start (`serve` refuses bad entries); a bad one here is ignored.
            trusted_proxies: s
                .trusted_proxies
                .iter()
                .filter_map(|e| crate::clientip::Net::parse(e).ok())
                .collect(),
        }
    }

    pub fn login(&self, ip: IpAddr) -> Result<(), ApiError> {
        check(&self.login, ip)
    }

    pub fn guest_start(&self, ip: IpAddr) -> Result<(), ApiError> {
        check(&self.guest_start, ip)
    }

    /// Host-token sign-ins: a page view each on the embedding site, and a token cannot be
    /// guessed, so a larger allowance than password sign-in.
    pub fn host_sign_in(&self, ip: IpAddr) -> Result<(), ApiError> {
        check(&self.host_sign_in, ip)
    }
}
