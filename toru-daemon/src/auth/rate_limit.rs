//! Login rate limits, as OWASP recommends against both guessing and lock-outs: per client
//! address (slows one client trying many accounts), per (user name, address) pair (slows one
//! client guessing one account), and a global ceiling per user name counted only for attempts
//! the first two let through, so one attacker's address cannot lock a user out: the user, from
//! another address, still gets in. The address is checked first, and an attempt it refuses
//! touches no per-user state. Memory stays bounded: keys back at a full burst are swept every
//! [`SWEEP_EVERY`] attempts, and at most [`MAX_TRACKED_KEYS`] keys are kept per limit.

use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::{Clock as _, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

type Keyed<K> = RateLimiter<K, DefaultKeyedStateStore<K>, DefaultClock>;

/// Attempts between two sweeps of keys that are back to a full burst.
pub const SWEEP_EVERY: u64 = 1024;
/// Most keys kept per limit (a key is a user name of at most 64 bytes and an address, a few
/// hundred bytes with the map's overhead); past it, after a sweep, attempts are refused until
/// old keys expire, rather than memory growing without end under a distributed attack.
pub const MAX_TRACKED_KEYS: usize = 65_536;
/// How long a refused attempt is told to wait when the key table is full.
const FULL_WAIT: Duration = Duration::from_secs(60);

/// A user name as the limiter counts it: case does not make a new user.
type UserKey = String;

/// The three login limits.
pub struct LoginLimiter {
    per_address: Keyed<IpAddr>,
    per_pair: Keyed<(UserKey, Option<IpAddr>)>,
    per_user: Keyed<UserKey>,
    /// Attempts so far, to sweep every [`SWEEP_EVERY`].
    attempts: AtomicU64,
}

fn quota(burst: u32, every: Duration) -> Quota {
    Quota::with_period(every)
        .expect("non-zero period")
        .allow_burst(NonZeroU32::new(burst).expect("non-zero burst"))
}

impl LoginLimiter {
    /// 20 attempts per address in a burst, then one every 3 s; 5 per user name and address,
    /// then one every 12 s; 30 per user name from everywhere, then one every 2 s.
    pub fn new() -> Self {
        LoginLimiter {
            per_address: RateLimiter::keyed(quota(20, Duration::from_secs(3))),
            per_pair: RateLimiter::keyed(quota(5, Duration::from_secs(12))),
            per_user: RateLimiter::keyed(quota(30, Duration::from_secs(2))),
            attempts: AtomicU64::new(0),
        }
    }

    /// Records an attempt; `Err(wait)` when it is over a limit, with how long until the next
    /// attempt would be allowed. Addresses are absent on the Unix socket.
    pub fn check(&self, username: &str, address: Option<IpAddr>) -> Result<(), Duration> {
        if self
            .attempts
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(SWEEP_EVERY)
        {
            self.retain_recent();
        }
        let clock = DefaultClock::default();
        let wait = |not_until: governor::NotUntil<_>| not_until.wait_time_from(clock.now());
        let address = address.map(address_key);
        if let Some(ip) = address {
            self.room_for(&self.per_address)?;
            self.per_address.check_key(&ip).map_err(wait)?;
        }
        let user = username.to_lowercase();
        let pair = (user, address);
        self.room_for(&self.per_pair)?;
        self.per_pair.check_key(&pair).map_err(wait)?;
        let (user, _) = pair;
        self.room_for(&self.per_user)?;
        self.per_user.check_key(&user).map_err(wait)
    }

    /// Refuses the attempt when the limit tracks [`MAX_TRACKED_KEYS`] even after a sweep.
    fn room_for<K>(&self, limit: &Keyed<K>) -> Result<(), Duration>
    where
        K: std::hash::Hash + Eq + Clone,
    {
        if limit.len() < MAX_TRACKED_KEYS {
            return Ok(());
        }
        limit.retain_recent();
        if limit.len() < MAX_TRACKED_KEYS {
            Ok(())
        } else {
            Err(FULL_WAIT)
        }
    }

    /// Drops state of keys that are back to a full burst, so the maps stay small.
    pub fn retain_recent(&self) {
        self.per_address.retain_recent();
        self.per_pair.retain_recent();
        self.per_user.retain_recent();
    }

    /// How many keys the three limits hold now.
    pub fn tracked_keys(&self) -> usize {
        self.per_address.len() + self.per_pair.len() + self.per_user.len()
    }
}

/// The key of an address: IPv4 as is, IPv6 by its /64 network, since one host is commonly
/// handed a whole /64 and could otherwise use a new address for every attempt.
fn address_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let network = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(network))
        }
        v4 => v4,
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

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn one_address_guessing_slows_itself_not_the_user() {
        let limiter = LoginLimiter::new();
        let attacker = ip("192.0.2.1");
        for _ in 0..5 {
            assert!(limiter.check("admin", attacker).is_ok());
        }
        let wait = limiter.check("admin", attacker).unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(12));
        // Case does not get around the pair limit.
        assert!(limiter.check("ADMIN", attacker).is_err());
        // The user, from elsewhere, still gets in; so does the local socket.
        assert!(limiter.check("admin", ip("198.51.100.7")).is_ok());
        assert!(limiter.check("admin", None).is_ok());
        // Another user from the attacker's address has attempts left...
        assert!(limiter.check("bob", attacker).is_ok());
        // ...until the address has used its 20.
        for i in 0..20 {
            let _ = limiter.check(&format!("user{i}"), attacker);
        }
        assert!(limiter.check("carol", attacker).is_err());
    }

    #[test]
    fn many_addresses_meet_the_per_user_ceiling() {
        let limiter = LoginLimiter::new();
        let mut allowed = 0;
        for i in 0..100u32 {
            let address = Some(IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i)));
            if limiter.check("admin", address).is_ok() {
                allowed += 1;
            }
        }
        assert_eq!(allowed, 30, "the global ceiling");
    }

    #[test]
    fn refused_addresses_add_no_user_state() {
        let limiter = LoginLimiter::new();
        let a = ip("192.0.2.1");
        for i in 0..3000 {
            let _ = limiter.check(&format!("name{i}"), a);
        }
        // One address key, and 20 pairs and users for the attempts it let through.
        assert_eq!(limiter.tracked_keys(), 1 + 20 + 20);
        // IPv6 neighbours in one /64 are one address.
        for i in 0..30u16 {
            let v6 = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, i);
            let _ = limiter.check(&format!("v6-{i}"), Some(IpAddr::V6(v6)));
        }
        assert_eq!(limiter.tracked_keys(), 1 + 20 + 20 + 1 + 20 + 20);
    }
}
