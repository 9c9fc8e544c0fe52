//! When a delivery is tried again: up to [`RetryPolicy::attempts`] attempts, waiting 1 s, 2 s,
//! 4 s, … (capped) between them; a receiver that answers 2xx has it, one that refuses it (a
//! 4xx other than 408 and 429, or a redirect, which is not followed) will not take it on a
//! second try either.

use std::future::Future;
use std::time::Duration;

use http::StatusCode;

/// How often and how patiently a delivery is tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// The wait before the second attempt; each later wait doubles it.
    pub first_delay: Duration,
    /// The longest wait between two attempts.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// 5 attempts, 1 s, 2 s, 4 s and 8 s apart (at most 30 s each): a receiver restarting
    /// for a quarter of a minute misses nothing.
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt `attempt` (from 1) before the next.
    pub fn delay_after(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(31);
        self.first_delay
            .saturating_mul(1 << doublings)
            .min(self.max_delay)
    }
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The receiver answered with this status.
    Status(StatusCode),
    /// No answer: the connection, TLS or the time limit failed; says which.
    NoAnswer(String),
}

/// What to do after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    Delivered,
    /// Worth another attempt, for this reason.
    Retry(String),
    /// Not worth another attempt.
    Refused(String),
}

fn verdict(answer: Answer) -> Verdict {
    match answer {
        Answer::Status(status) if status.is_success() => Verdict::Delivered,
        Answer::Status(status)
            if status.is_server_error()
                || status == StatusCode::REQUEST_TIMEOUT
                || status == StatusCode::TOO_MANY_REQUESTS =>
        {
            Verdict::Retry(format!("HTTP {status}"))
        }
        Answer::Status(status) => Verdict::Refused(format!("HTTP {status}")),
        Answer::NoAnswer(reason) => Verdict::Retry(reason),
    }
}

/// A delivery that did not arrive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undelivered {
    /// How many attempts were made.
    pub attempts: u32,
    /// What the last one came to.
    pub last: String,
    /// Whether the receiver refused it (rather than every attempt failing).
    pub refused: bool,
}

/// Makes attempts (`attempt(n)`, n from 1) until one is delivered, one is refused, or
/// `policy.attempts` have failed, waiting [`RetryPolicy::delay_after`] between them. Returns
/// the number of attempts made.
pub async fn with_retries<F, Fut>(policy: RetryPolicy, mut attempt: F) -> Result<u32, Undelivered>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Answer>,
{
    let mut n = 1;
    loop {
        match verdict(attempt(n).await) {
            Verdict::Delivered => return Ok(n),
            Verdict::Refused(last) => {
                return Err(Undelivered {
                    attempts: n,
                    last,
                    refused: true,
                });
            }
            Verdict::Retry(last) if n >= policy.attempts => {
                return Err(Undelivered {
                    attempts: n,
                    last,
                    refused: false,
                });
            }
            Verdict::Retry(_) => {
                tokio::time::sleep(policy.delay_after(n)).await;
                n += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use tokio::time::Instant;

    use super::*;

    #[test]
    fn waits_double_from_one_second_up_to_the_cap() {
        let policy = RetryPolicy::default();
        let delays: Vec<u64> = (1..=7).map(|n| policy.delay_after(n).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 30, 30]);
        assert_eq!(policy.delay_after(u32::MAX), policy.max_delay);
    }

    /// Runs `with_retries` against answers given in turn, recording when (since the start,
    /// on tokio's paused clock) each attempt was made.
    async fn run(answers: Vec<Answer>) -> (Result<u32, Undelivered>, Vec<u64>) {
        let start = Instant::now();
        let answers = Mutex::new(answers.into_iter());
        let times = Mutex::new(Vec::new());
        let result = with_retries(RetryPolicy::default(), |_| {
            times.lock().unwrap().push(start.elapsed().as_secs());
            let answer = answers
                .lock()
                .unwrap()
                .next()
                .expect("an answer per attempt");
            async move { answer }
        })
        .await;
        (result, times.into_inner().unwrap())
    }

    fn status(code: u16) -> Answer {
        Answer::Status(StatusCode::from_u16(code).unwrap())
    }

    #[tokio::test(start_paused = true)]
    async fn server_errors_are_retried_on_the_schedule_until_one_is_delivered() {
        let (result, times) = run(vec![status(500), status(503), status(200)]).await;
        assert_eq!(result, Ok(3));
        assert_eq!(times, [0, 1, 3], "1 s, then 2 s between attempts");
    }

    #[tokio::test(start_paused = true)]
    async fn after_the_last_attempt_the_delivery_fails_with_its_reason() {
        let answers = vec![
            Answer::NoAnswer("connection refused".into()),
            status(502),
            status(429),
            status(408),
            Answer::NoAnswer("no answer within 10s".into()),
        ];
        let (result, times) = run(answers).await;
        assert_eq!(
            result,
            Err(Undelivered {
                attempts: 5,
                last: "no answer within 10s".into(),
                refused: false
            })
        );
        assert_eq!(times, [0, 1, 3, 7, 15]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusal_or_a_redirect_is_not_retried() {
        for code in [400, 401, 404, 410, 301] {
            let (result, times) = run(vec![status(code)]).await;
            let failure = result.unwrap_err();
            assert!(failure.refused && failure.attempts == 1, "{code}");
            assert!(failure.last.contains(&code.to_string()), "{code}");
            assert_eq!(times, [0]);
        }
    }
}
