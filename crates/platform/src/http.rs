//! Outgoing HTTP with a deadline. Workers' `fetch` has no timeout of its own, and a model or
//! API that hangs must not hold a request or a queue batch for minutes.

use futures::future::{Either, select};
use worker::{AbortController, Delay, Fetch, Request, Response};

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("no answer within {0} ms")]
    Timeout(u64),
    #[error("request failed: {0}")]
    Transport(String),
}

/// Waits for `future` at most `timeout_ms`; `None` when the deadline came first. The future
/// is dropped then, which stops waiting but cannot cancel work the runtime already started.
pub async fn within<F: Future>(future: F, timeout_ms: u64) -> Option<F::Output> {
    let deadline = Delay::from(std::time::Duration::from_millis(timeout_ms));
    match select(Box::pin(future), Box::pin(deadline)).await {
        Either::Left((output, _)) => Some(output),
        Either::Right(_) => None,
    }
}

/// Sends `request` and waits at most `timeout_ms` for the response headers; a late request is
/// aborted.
pub async fn fetch_with_timeout(request: Request, timeout_ms: u64) -> Result<Response, HttpError> {
    let controller = AbortController::default();
    let signal = controller.signal();
    let fetch = Fetch::Request(request);
    match within(fetch.send_with_signal(&signal), timeout_ms).await {
        Some(Ok(response)) => Ok(response),
        Some(Err(error)) => Err(HttpError::Transport(error.to_string())),
        None => {
            controller.abort();
            Err(HttpError::Timeout(timeout_ms))
        }
    }
}
