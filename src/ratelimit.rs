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

    fn all(&self) -> [&DefaultKeyedRateLimiter<IpAddr>; 3] {
        [&self.login, &self.guest_start, &self.host_sign_in]
    }

    /// Forget the addresses whose allowance has refilled completely (they are as if never
    /// seen) and give the memory back. Without it the maps only grow, one entry per
    /// address that ever signed in or started a chat.
    pub fn prune(&self) {
        for limiter in self.all() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }

    /// How many addresses the limiters remember, together.
    pub fn remembered(&self) -> usize {
        self.all().iter().map(|l| l.len()).sum()
    }

    /// Prune every `every` until the task is aborted.
    pub fn start_pruning(
        self: &std::sync::Arc<Self>,
        every: std::time::Duration,
    ) -> tokio::task::JoinHandle<()> {
        let limits = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                limits.prune();
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The maps shrink once the addresses' allowances have refilled.
    #[tokio::test]
    async fn remembered_addresses_are_forgotten_once_their_allowance_refills() {
        // 6,000,000 a minute: one sign-in's allowance refills in 10 µs.
        let settings = Settings {
            login_rate_per_minute: 6_000_000,
            guest_start_rate_per_minute: 6_000_000,
            ..Settings::default()
        };
        let limits = RateLimits::new(&settings);
        for i in 0..1000u32 {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            limits.login(ip).expect("allowed");
            limits.guest_start(ip).expect("allowed");
        }
        assert_eq!(limits.remembered(), 2000);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        limits.prune();
        assert_eq!(limits.remembered(), 0);
        // A limit still in force is kept: at 1 a minute, a second try is refused and the
        // address stays remembered through a prune.
        let strict = RateLimits::new(&Settings {
            login_rate_per_minute: 1,
            ..Settings::default()
        });
        let ip = IpAddr::from([10, 9, 9, 9]);
        strict.login(ip).expect("first");
        strict.prune();
        assert_eq!(strict.remembered(), 1);
        assert!(strict.login(ip).is_err());
    }
}
