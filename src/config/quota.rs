//! Quota splits: an account total per region and model, a reserve, and allocations per
//! workspace; each workspace's limit is derived from its share.

use std::fmt::Write as _;

use serde::Serialize;

/// An amount as written: absolute requests per minute, or per-mille of the total (`"12.5%"` = 125).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Amount {
    Absolute(u64),
    /// Thousandths of the total (one decimal of a percent).
    PerMille(u64),
}

impl Amount {
    /// Parses `"60%"` or `"12.5%"`; numbers are absolute and never reach this.
    pub fn parse_share(s: &str) -> Result<Amount, String> {
        let t = s.trim();
        let Some(num) = t.strip_suffix('%') else {
            return Err(format!(
                "`{s}` is neither a number nor a share; write an absolute number like \
                        600 or a share like \"60%\""
            ));
        };
        let num = num.trim();
        let (int, frac) = num.split_once('.').unwrap_or((num, ""));
        if int.is_empty()
            || !int.chars().all(|c| c.is_ascii_digit())
            || frac.len() > 1
            || !frac.chars().all(|c| c.is_ascii_digit())
        {
            return Err(format!(
                "`{s}` is not a share; write a percentage like \"60%\" or \"12.5%\""
            ));
        }
        let too_large = || format!("`{s}` is more than 100%");
        let int: u64 = int.parse().map_err(|_| too_large())?;
        let frac: u64 = if frac.is_empty() {
            0
        } else {
            frac.parse().unwrap_or(0)
        };
        int.checked_mul(10)
            .and_then(|n| n.checked_add(frac))
            .map(Amount::PerMille)
            .ok_or_else(too_large)
    }

    /// The amount in requests per minute, given the total (shares round down), computed exactly:
    /// wider than any input, so it cannot overflow.
    pub fn of(self, total: u64) -> u128 {
        match self {
            Amount::Absolute(n) => u128::from(n),
            Amount::PerMille(pm) => u128::from(total) * u128::from(pm) / 1000,
        }
    }
}

/// One row of a split: a workspace and what it gets.
#[derive(Debug, Clone, Serialize)]
pub struct Allocation {
    pub workspace: String,
    pub amount: Amount,
    pub requests_per_minute: u64,
    pub tokens_per_minute: Option<u64>,
}

/// A derived split, shown by `validate --explain` and in plans.
#[derive(Debug, Clone, Serialize)]
pub struct QuotaSplit {
    pub region: String,
    pub model: String,
    pub requests_per_minute: u64,
    pub tokens_per_minute: Option<u64>,
    pub reserve: u64,
    pub allocations: Vec<Allocation>,
}

impl QuotaSplit {
    /// The sum of the allocations (exact: a sum of 64-bit numbers fits 128 bits).
    pub fn allocated(&self) -> u128 {
        self.allocations
            .iter()
            .map(|a| u128::from(a.requests_per_minute))
            .sum()
    }

    /// What is neither allocated nor reserved (negative when overcommitted).
    pub fn left(&self) -> i128 {
        // Each term is below 2^127 (see `allocated`), so neither conversion nor subtraction wraps.
        let total = i128::from(self.requests_per_minute);
        let used = i128::try_from(self.allocated() + u128::from(self.reserve)).unwrap_or(i128::MAX);
        total - used
    }

    /// Tokens follow the request share: a workspace with 60% of requests gets 60% of tokens
    /// (exact; more than the total when `requests` is, which the overcommit check reports).
    pub fn tokens_for(&self, requests: u64) -> Option<u128> {
        let total = self.tokens_per_minute?;
        if self.requests_per_minute == 0 {
            return Some(0);
        }
        Some(u128::from(total) * u128::from(requests) / u128::from(self.requests_per_minute))
    }

    /// The split as a text table: total, each allocation as a number and a share, reserve, left.
    pub fn table(&self) -> String {
        let total = self.requests_per_minute;
        let share = |n: u64| {
            if total == 0 {
                "-".to_string()
            } else {
                format!("{:.1}%", n as f64 * 100.0 / total as f64)
            }
        };
        let tokens = |n: Option<u128>| n.map(|t| t.to_string()).unwrap_or_else(|| "-".into());
        let width = self
            .allocations
            .iter()
            .map(|a| a.workspace.len())
            .chain([9])
            .max()
            .unwrap_or(9);
        let mut out = String::new();
        let _ = writeln!(out, "quota {} / {}", self.region, self.model);
        let _ = writeln!(
            out,
            "  {:<width$}  {:>10}  {:>7}  {:>12}",
            "workspace", "req/min", "share", "tokens/min"
        );
        for a in &self.allocations {
            let _ = writeln!(
                out,
                "  {:<width$}  {:>10}  {:>7}  {:>12}",
                a.workspace,
                a.requests_per_minute,
                share(a.requests_per_minute),
                tokens(a.tokens_per_minute.map(u128::from))
            );
        }
        let _ = writeln!(
            out,
            "  {:<width$}  {:>10}  {:>7}  {:>12}",
            "(reserve)",
            self.reserve,
            share(self.reserve),
            tokens(self.tokens_for(self.reserve))
        );
        let left = self.left();
        let left_share = if left >= 0 {
            share(left as u64)
        } else {
            "over".into()
        };
        let _ = writeln!(
            out,
            "  {:<width$}  {:>10}  {:>7}",
            "(left)", left, left_share
        );
        let _ = writeln!(
            out,
            "  {:<width$}  {:>10}  {:>7}  {:>12}",
            "total",
            total,
            "100.0%",
            tokens(self.tokens_per_minute.map(u128::from))
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_parse_and_apply() {
        assert_eq!(Amount::parse_share("60%"), Ok(Amount::PerMille(600)));
        assert_eq!(Amount::parse_share("12.5%"), Ok(Amount::PerMille(125)));
        assert!(Amount::parse_share("60").is_err());
        assert!(Amount::parse_share("x%").is_err());
        assert_eq!(Amount::PerMille(600).of(1000), 600);
        assert_eq!(Amount::PerMille(125).of(1000), 125);
    }

    #[test]
    fn huge_numbers_are_exact_or_refused() {
        // A share of the largest total TOML can hold is exact, not saturated.
        let max = i64::MAX as u64;
        assert_eq!(Amount::PerMille(600).of(max), u128::from(max) * 600 / 1000);
        assert_eq!(Amount::PerMille(1000).of(u64::MAX), u128::from(u64::MAX));
        // A share whose per-mille value overflows is refused, not wrapped.
        assert!(Amount::parse_share("9999999999999999999%").is_err());
        assert!(Amount::parse_share("99999999999999999999%").is_err());
        let split = QuotaSplit {
            region: "cn-beijing".into(),
            model: "m".into(),
            requests_per_minute: 2,
            tokens_per_minute: Some(max),
            reserve: 2,
            allocations: ["a", "b"]
                .map(|w| Allocation {
                    workspace: w.into(),
                    amount: Amount::Absolute(max),
                    requests_per_minute: max,
                    tokens_per_minute: None,
                })
                .to_vec(),
        };
        assert_eq!(split.allocated(), 2 * u128::from(max));
        assert_eq!(split.left(), 2 - 2 * i128::from(max) - 2);
        assert_eq!(
            split.tokens_for(max),
            Some(u128::from(max) * u128::from(max) / 2)
        );
    }

    #[test]
    fn the_domain_example_splits_exactly() {
        let split = QuotaSplit {
            region: "cn-beijing".into(),
            model: "qwen-plus".into(),
            requests_per_minute: 1000,
            tokens_per_minute: Some(1_000_000),
            reserve: 100,
            allocations: vec![
                Allocation {
                    workspace: "chatbot-prod".into(),
                    amount: Amount::PerMille(600),
                    requests_per_minute: 600,
                    tokens_per_minute: Some(600_000),
                },
                Allocation {
                    workspace: "chatbot-test".into(),
                    amount: Amount::PerMille(200),
                    requests_per_minute: 200,
                    tokens_per_minute: Some(200_000),
                },
                Allocation {
                    workspace: "chatbot-dev".into(),
                    amount: Amount::PerMille(100),
                    requests_per_minute: 100,
                    tokens_per_minute: Some(100_000),
                },
            ],
        };
        assert_eq!(split.left(), 0);
        assert_eq!(split.tokens_for(600), Some(600_000));
        assert_eq!(split.allocated(), 900);
        let table = split.table();
        assert!(table.contains("chatbot-prod"), "{table}");
        assert!(table.contains("60.0%"), "{table}");
    }
}
