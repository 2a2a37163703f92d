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

/// Sends `request` and waits at most `timeout_ms` for the response headers.
pub async fn fetch_with_timeout(request: Request, timeout_ms: u64) -> Result<Response, HttpError> {
    let controller = AbortController::default();
    let signal = controller.signal();
    let fetch = Fetch::Request(request);
    let fetch = Box::pin(fetch.send_with_signal(&signal));
    let deadline = Box::pin(Delay::from(std::time::Duration::from_millis(timeout_ms)));
    match select(fetch, deadline).await {
        Either::Left((Ok(response), _)) => Ok(response),
        Either::Left((Err(error), _)) => Err(HttpError::Transport(error.to_string())),
        Either::Right(_) => {
            controller.abort();
            Err(HttpError::Timeout(timeout_ms))
        }
    }
}
