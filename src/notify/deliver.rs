//! Delivery to one receiver: a task that takes notifications off the receiver's queue in order and sends each,
//! retrying with backoff. Nothing here is awaited by a reconcile.
use std::{future::Future, sync::Arc, time::Duration};

use bytes::Bytes;
use http::{Method, Request, header::CONTENT_TYPE};
use http_body_util::Full;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use super::{
    Notification,
    config::{Format, Receiver},
    payload,
};
use crate::{
    outbound::{self, HttpClient},
    shutdown::Shutdown,
    telemetry::metrics::{Metrics, NotifyResult},
};

/// Notifications waiting per receiver: enough for a whole fleet's window of transitions; past it new ones are
/// dropped (and counted), never waited for.
pub const QUEUE: usize = 256;
/// Attempts per notification, the first included.
pub const ATTEMPTS: u32 = 5;
/// The pause after the first failed attempt; it doubles after each, up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How long one attempt may take, connection included: a receiver that never answers costs its own queue this
/// much per attempt, and nothing else.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How one attempt went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attempt {
    /// The receiver answered with this HTTP status.
    Status(u16),
    /// No answer within [`REQUEST_TIMEOUT`].
    Timeout,
    /// No connection, TLS failure, a broken response.
    Error(String),
}

/// What to do after an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    /// Worth another attempt: 408, 429, 5xx, no answer, no connection.
    Retry,
    /// The receiver refused it and would again (any other 4xx, or a 1xx/3xx drydock does not follow).
    Permanent,
}

pub fn classify(attempt: &Attempt) -> Verdict {
    match attempt {
        Attempt::Status(200..=299) => Verdict::Delivered,
        Attempt::Status(408 | 429) | Attempt::Status(500..) => Verdict::Retry,
        Attempt::Status(_) => Verdict::Permanent,
        Attempt::Timeout | Attempt::Error(_) => Verdict::Retry,
    }
}

/// The pause after failed attempt number `attempt` (1-based): 1 s, 2 s, 4 s, 8 s... at most [`MAX_BACKOFF`].
pub fn backoff(attempt: u32) -> Duration {
    FIRST_BACKOFF
        .saturating_mul(1 << attempt.saturating_sub(1).min(16))
        .min(MAX_BACKOFF)
}

/// The metric label of an attempt.
pub fn attempt_label(attempt: &Attempt) -> &'static str {
    match attempt {
        Attempt::Status(200..=299) => "2xx",
        Attempt::Status(400..=499) => "4xx",
        Attempt::Status(500..) => "5xx",
        Attempt::Status(_) => "other",
        Attempt::Timeout => "timeout",
        Attempt::Error(_) => "error",
    }
}

/// Sends `n` with `send` until it is delivered, refused for good, [`ATTEMPTS`] are used up, or a stop is
/// asked for (then None: neither delivered nor failed, the process is going away). `seen` hears each attempt.
pub async fn deliver<F, Fut>(mut send: F, shutdown: &Shutdown, mut seen: impl FnMut(&Attempt)) -> Option<NotifyResult>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Attempt>,
{
    for n in 1..=ATTEMPTS {
        let attempt = shutdown.bounded(send(), Duration::ZERO).await?;
        seen(&attempt);
        match classify(&attempt) {
            Verdict::Delivered => return Some(NotifyResult::Delivered),
            Verdict::Permanent => return Some(NotifyResult::Failed),
            Verdict::Retry if n == ATTEMPTS => return Some(NotifyResult::Failed),
            Verdict::Retry => shutdown.bounded(tokio::time::sleep(backoff(n)), Duration::ZERO).await?,
        }
    }
    Some(NotifyResult::Failed)
}

/// The task of one receiver: until its queue is closed (the configuration changed and the queue was emptied)
/// or a stop is asked for.
pub async fn run(
    receiver: Arc<Receiver>,
    mut queue: mpsc::Receiver<Notification>,
    client: HttpClient,
    metrics: Arc<Metrics>,
    shutdown: Shutdown,
) {
    loop {
        let Some(Some(n)) = shutdown.bounded(queue.recv(), Duration::ZERO).await else {
            return;
        };
        let body = Bytes::from(match receiver.format {
            Format::Cloudevents => payload::cloudevent(&n).to_string(),
            Format::Slack => payload::slack(&n).to_string(),
        });
        let send = || post(&client, &receiver, body.clone());
        let seen = |a: &Attempt| {
            metrics.notification_attempt(&receiver.name, attempt_label(a));
            match a {
                Attempt::Status(s) if classify(a) != Verdict::Delivered => {
                    debug!(receiver = %receiver.name, status = s, id = %n.id, "notification not accepted")
                }
                Attempt::Error(e) => debug!(receiver = %receiver.name, error = %e, id = %n.id, "notification not sent"),
                Attempt::Timeout => debug!(receiver = %receiver.name, id = %n.id, "notification timed out"),
                _ => {}
            }
        };
        let Some(result) = deliver(send, &shutdown, seen).await else {
            return;
        };
        if result == NotifyResult::Failed {
            warn!(receiver = %receiver.name, event = n.kind.name(), id = %n.id, "notification not delivered");
        }
        metrics.notification(&receiver.name, n.kind.name(), result);
    }
}

async fn post(client: &HttpClient, receiver: &Receiver, body: Bytes) -> Attempt {
    let content_type = match receiver.format {
        Format::Cloudevents => payload::CLOUDEVENTS_CONTENT_TYPE,
        Format::Slack => payload::JSON_CONTENT_TYPE,
    };
    let mut request = Request::builder()
        .method(Method::POST)
        .uri(receiver.url.clone())
        .header(CONTENT_TYPE, content_type)
        .header(http::header::USER_AGENT, concat!("drydock/", env!("CARGO_PKG_VERSION")));
    for (name, value) in &receiver.headers {
        request = request.header(name, value);
    }
    let request = match request.body(Full::new(body)) {
        Ok(r) => r,
        Err(e) => return Attempt::Error(e.to_string()),
    };
    match tokio::time::timeout(REQUEST_TIMEOUT, client.request(request)).await {
        Err(_) => Attempt::Timeout,
        Ok(Err(e)) => Attempt::Error(outbound::error_chain(&e)),
        Ok(Ok(response)) => Attempt::Status(response.status().as_u16()),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use tokio::time::Instant;

    #[test]
    fn answers_are_classified() {
        for s in [200, 201, 202, 204, 299] {
            assert_eq!(classify(&Attempt::Status(s)), Verdict::Delivered, "{s}");
        }
        for s in [408, 429, 500, 502, 503, 504] {
            assert_eq!(classify(&Attempt::Status(s)), Verdict::Retry, "{s}");
        }
        for s in [301, 400, 401, 403, 404, 410, 413, 422] {
            assert_eq!(classify(&Attempt::Status(s)), Verdict::Permanent, "{s}");
        }
        assert_eq!(classify(&Attempt::Timeout), Verdict::Retry);
        assert_eq!(classify(&Attempt::Error("refused".into())), Verdict::Retry);
    }

    #[test]
    fn backoff_doubles_from_one_second_up_to_thirty() {
        let pauses: Vec<u64> = (1..=7).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(pauses, [1, 2, 4, 8, 16, 30, 30]);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
    }

    /// Runs `deliver` against scripted answers; returns the result, the times of the attempts (seconds from the
    /// start) and what `seen` heard.
    async fn scripted(answers: Vec<Attempt>) -> (Option<NotifyResult>, Vec<u64>, Vec<&'static str>) {
        let (_trigger, shutdown) = Shutdown::manual();
        let start = Instant::now();
        let times = Mutex::new(Vec::new());
        let answers = Mutex::new(answers.into_iter());
        let mut heard = Vec::new();
        let send = || {
            times.lock().unwrap().push(start.elapsed().as_secs());
            let a = answers.lock().unwrap().next().unwrap_or(Attempt::Status(200));
            async move { a }
        };
        let result = deliver(send, &shutdown, |a| heard.push(attempt_label(a))).await;
        let times = times.into_inner().unwrap();
        (result, times, heard)
    }

    #[tokio::test(start_paused = true)]
    async fn a_receiver_that_fails_a_few_times_gets_it_once_after_backoff() {
        let (result, times, heard) = scripted(vec![Attempt::Status(500), Attempt::Timeout, Attempt::Status(503)]).await;
        assert_eq!(result, Some(NotifyResult::Delivered));
        assert_eq!(times, [0, 1, 3, 7]);
        assert_eq!(heard, ["5xx", "timeout", "5xx", "2xx"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_permanent_refusal_is_not_retried() {
        let (result, times, heard) = scripted(vec![Attempt::Status(404)]).await;
        assert_eq!(result, Some(NotifyResult::Failed));
        assert_eq!((times, heard), (vec![0], vec!["4xx"]));
    }

    #[tokio::test(start_paused = true)]
    async fn attempts_are_bounded() {
        let (result, times, _) = scripted(vec![Attempt::Error("refused".into()); 10]).await;
        assert_eq!(result, Some(NotifyResult::Failed));
        assert_eq!(times, [0, 1, 3, 7, 15]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stop_ends_the_retries_at_once() {
        let (trigger, shutdown) = Shutdown::manual();
        let start = Instant::now();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            trigger.stop();
        });
        let send = || async { Attempt::Status(503) };
        assert_eq!(deliver(send, &shutdown, |_| {}).await, None);
        assert_eq!(start.elapsed(), Duration::from_millis(1500));
    }
}
