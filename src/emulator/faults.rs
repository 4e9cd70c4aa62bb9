//! Fault injection: latency, throttling, server errors and dropped connections, drawn from a
//! seeded generator so that the same seed gives the same sequence of faults.
//!
//! Every fault but one is decided before the request is verified or handled, so such a failure
//! never changes state and a client's retry is always safe. The exception is the lost reply
//! (`--lost-reply-rate`): the request is executed, its changes commit, and then the connection is
//! closed without an answer, which is what makes duplicates in real networks when a client
//! retries a create blindly.

use std::sync::Mutex;
use std::time::Duration;

/// What to inject, per request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaultConfig {
    /// Seed of the generator; the same seed and the same request order give the same faults.
    pub seed: u64,
    /// Added to every request before it is handled.
    pub latency: Duration,
    /// Share of requests answered with `Throttling.User` (429 or 400) and `x-acs-retry-after`.
    pub throttle_rate: f64,
    /// Share of requests answered with 500 `InternalError` or 503 `ServiceUnavailable`.
    pub error_rate: f64,
    /// Share of requests whose connection is closed without an answer.
    pub drop_rate: f64,
    /// The `x-acs-retry-after` of a throttled answer, in milliseconds.
    pub retry_after_ms: u64,
    /// Share of requests executed (state changes commit) whose connection is then closed
    /// without an answer.
    pub lost_reply_rate: f64,
}

impl Default for FaultConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            latency: Duration::ZERO,
            throttle_rate: 0.0,
            error_rate: 0.0,
            drop_rate: 0.0,
            retry_after_ms: 100,
            lost_reply_rate: 0.0,
        }
    }
}

impl FaultConfig {
    /// Checks that each rate is a share in `[0, 1]` and that together they do not exceed 1.
    pub fn validate(&self) -> Result<(), String> {
        for (name, rate) in [
            ("--throttle-rate", self.throttle_rate),
            ("--error-rate", self.error_rate),
            ("--drop-rate", self.drop_rate),
            ("--lost-reply-rate", self.lost_reply_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!(
                    "{name} must be between 0 and 1 (a share of requests), got {rate}"
                ));
            }
        }
        let total = self.throttle_rate + self.error_rate + self.drop_rate + self.lost_reply_rate;
        if total > 1.0 + 1e-9 {
            return Err(format!(
                "--throttle-rate, --error-rate, --drop-rate and --lost-reply-rate add up to \
                 {total}; together they must not exceed 1"
            ));
        }
        Ok(())
    }

    fn injects(&self) -> bool {
        self.throttle_rate > 0.0
            || self.error_rate > 0.0
            || self.drop_rate > 0.0
            || self.lost_reply_rate > 0.0
    }
}

/// The fault chosen for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    None,
    /// Close the connection without answering.
    Drop,
    /// `Throttling.User` with this status (429 or 400) and `x-acs-retry-after`.
    Throttle {
        status: u16,
    },
    /// A server error: 500 `InternalError` or 503 `ServiceUnavailable`.
    ServerError {
        status: u16,
    },
    /// Execute the request, then close the connection without answering.
    LostReply,
}

/// Draws one [`Fault`] per request from a seeded generator.
#[derive(Debug)]
pub struct FaultPlan {
    config: FaultConfig,
    rng: Mutex<SplitMix64>,
}

impl FaultPlan {
    pub fn new(config: FaultConfig) -> Self {
        Self {
            rng: Mutex::new(SplitMix64(config.seed)),
            config,
        }
    }

    pub fn config(&self) -> &FaultConfig {
        &self.config
    }

    /// The next request's fault. Exactly two draws per request whatever the outcome, so the
    /// sequence depends only on the seed and the number of requests.
    pub fn next(&self) -> Fault {
        if !self.config.injects() {
            return Fault::None;
        }
        let (pick, variant) = {
            // A poisoned lock means a panic elsewhere mid-draw; the state is a plain integer and
            // still usable.
            let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
            (rng.next_f64(), rng.next_u64())
        };
        let c = &self.config;
        if pick < c.drop_rate {
            Fault::Drop
        } else if pick < c.drop_rate + c.throttle_rate {
            // Gateways answer flow control with 429 or 400 depending on the product; clients
            // must handle both.
            Fault::Throttle {
                status: if variant % 2 == 0 { 429 } else { 400 },
            }
        } else if pick < c.drop_rate + c.throttle_rate + c.error_rate {
            Fault::ServerError {
                status: if variant % 2 == 0 { 503 } else { 500 },
            }
        } else if pick < c.drop_rate + c.throttle_rate + c.error_rate + c.lost_reply_rate {
            // Drawn last, so adding it leaves the other faults of a seed where they were.
            Fault::LostReply
        } else {
            Fault::None
        }
    }
}

/// SplitMix64: tiny, fast and well distributed; plenty for choosing faults.
#[derive(Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(seed: u64) -> FaultPlan {
        FaultPlan::new(FaultConfig {
            seed,
            throttle_rate: 0.2,
            error_rate: 0.1,
            drop_rate: 0.05,
            ..FaultConfig::default()
        })
    }

    #[test]
    fn same_seed_same_sequence() {
        let run = |seed| {
            let p = plan(seed);
            (0..500).map(|_| p.next()).collect::<Vec<Fault>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }

    #[test]
    fn rates_are_roughly_honoured() {
        let p = plan(42);
        let faults: Vec<Fault> = (0..20_000).map(|_| p.next()).collect();
        let share = |f: &dyn Fn(&Fault) -> bool| {
            faults.iter().filter(|x| f(x)).count() as f64 / faults.len() as f64
        };
        assert!((share(&|f| matches!(f, Fault::Drop)) - 0.05).abs() < 0.01);
        assert!((share(&|f| matches!(f, Fault::Throttle { .. })) - 0.2).abs() < 0.02);
        assert!((share(&|f| matches!(f, Fault::ServerError { .. })) - 0.1).abs() < 0.02);
        assert!(faults.contains(&Fault::Throttle { status: 429 }));
        assert!(faults.contains(&Fault::Throttle { status: 400 }));
        assert!(faults.contains(&Fault::ServerError { status: 500 }));
        assert!(faults.contains(&Fault::ServerError { status: 503 }));
    }

    #[test]
    fn lost_replies_follow_their_rate_and_leave_other_faults_in_place() {
        let with_lost = FaultPlan::new(FaultConfig {
            seed: 42,
            throttle_rate: 0.2,
            error_rate: 0.1,
            drop_rate: 0.05,
            lost_reply_rate: 0.05,
            ..FaultConfig::default()
        });
        let without = plan(42);
        let mut lost = 0;
        for _ in 0..20_000 {
            let (a, b) = (with_lost.next(), without.next());
            if a == Fault::LostReply {
                lost += 1;
                assert_eq!(b, Fault::None);
            } else {
                assert_eq!(a, b);
            }
        }
        assert!((lost as f64 / 20_000.0 - 0.05).abs() < 0.01, "{lost}");
        let only_lost = FaultPlan::new(FaultConfig {
            lost_reply_rate: 1.0,
            ..FaultConfig::default()
        });
        assert!((0..100).all(|_| only_lost.next() == Fault::LostReply));
        let bad = FaultConfig {
            lost_reply_rate: 1.5,
            ..FaultConfig::default()
        };
        assert!(bad.validate().unwrap_err().contains("--lost-reply-rate"));
    }

    #[test]
    fn no_rates_no_faults_and_bad_rates_refused() {
        let p = FaultPlan::new(FaultConfig::default());
        assert!((0..100).all(|_| p.next() == Fault::None));
        let bad = FaultConfig {
            throttle_rate: 0.7,
            error_rate: 0.5,
            ..FaultConfig::default()
        };
        assert!(bad.validate().unwrap_err().contains("add up to"));
        let negative = FaultConfig {
            drop_rate: -0.1,
            ..FaultConfig::default()
        };
        assert!(negative.validate().unwrap_err().contains("--drop-rate"));
    }
}
