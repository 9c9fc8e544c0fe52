//! Login rate limits: per user name (slows guessing one account from many addresses) and per
//! client address (slows one client trying many accounts). Both must allow an attempt.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::DefaultClock;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

type Keyed<K> = RateLimiter<K, DefaultKeyedStateStore<K>, DefaultClock>;

/// Both login limiters.
pub struct LoginLimiter {
    per_user: Keyed<String>,
    per_address: Keyed<IpAddr>,
}

impl LoginLimiter {
    /// 5 attempts per user name in a burst, then one every 12 s; 20 per address in a burst,
    /// then one every 3 s.
    pub fn new() -> Self {
        let per_user = Quota::with_period(Duration::from_secs(12))
            .expect("non-zero period")
            .allow_burst(NonZeroU32::new(5).expect("non-zero"));
        let per_address = Quota::with_period(Duration::from_secs(3))
            .expect("non-zero period")
            .allow_burst(NonZeroU32::new(20).expect("non-zero"));
        LoginLimiter {
            per_user: RateLimiter::keyed(per_user),
            per_address: RateLimiter::keyed(per_address),
        }
    }

    /// Records an attempt; `Err(wait)` when it is over a limit, with how long until the next
    /// attempt would be allowed. Addresses are absent on the Unix socket.
    pub fn check(&self, username: &str, address: Option<IpAddr>) -> Result<(), Duration> {
        let clock = governor::clock::DefaultClock::default();
        use governor::clock::Clock as _;
        let user = self
            .per_user
            .check_key(&username.to_lowercase())
            .map_err(|not_until| not_until.wait_time_from(clock.now()));
        let addr = match address {
            Some(ip) => self
                .per_address
                .check_key(&ip)
                .map_err(|not_until| not_until.wait_time_from(clock.now())),
            None => Ok(()),
        };
        user.and(addr)
    }

    /// Drops state of keys that are back to a full burst, so the maps stay small.
    pub fn retain_recent(&self) {
        self.per_user.retain_recent();
        self.per_address.retain_recent();
    }
}

impl Default for LoginLimiter {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_user_and_per_address() {
        let limiter = LoginLimiter::new();
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        for _ in 0..5 {
            assert!(limiter.check("admin", Some(a)).is_ok());
        }
        let wait = limiter.check("admin", Some(a)).unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(12));
        // Case does not get around the per-user limit.
        assert!(limiter.check("ADMIN", None).is_err());
        // Another user from the same address still has attempts left...
        assert!(limiter.check("bob", Some(a)).is_ok());
        // ...until the address has used its 20.
        for i in 0..20 {
            let _ = limiter.check(&format!("user{i}"), Some(a));
        }
        assert!(limiter.check("carol", Some(a)).is_err());
    }
}
