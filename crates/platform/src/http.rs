//! Outgoing HTTP with a deadline. Workers' `fetch` has no timeout of its own, and a model or
//! API that hangs must not hold a request or a queue batch for minutes.

use futures::future::{Either, select};
use worker::wasm_bindgen::JsCast;
use worker::wasm_bindgen_futures::JsFuture;
use worker::{AbortController, Delay, Fetch, Headers, Request, Response, ResponseBody, js_sys};

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
/// aborted. For callers that need the status only.
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

/// A whole answer: status, headers and the body as text.
pub struct TextAnswer {
    pub status: u16,
    pub headers: Headers,
    pub body: String,
}

impl TextAnswer {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).ok().flatten()
    }
}

/// Sends `request` and reads the whole body as text, both within `timeout_ms`: an answer
/// that stalls halfway is no answer. A late request is aborted.
pub async fn fetch_text(request: Request, timeout_ms: u64) -> Result<TextAnswer, HttpError> {
    let controller = AbortController::default();
    let signal = controller.signal();
    let exchange = async {
        let response = Fetch::Request(request).send_with_signal(&signal).await?;
        let body = body_text(&response).await?;
        Ok::<_, worker::Error>(TextAnswer {
            status: response.status_code(),
            headers: response.headers().clone(),
            body,
        })
    };
    match within(exchange, timeout_ms).await {
        Some(Ok(answer)) => Ok(answer),
        Some(Err(error)) => Err(HttpError::Transport(error.to_string())),
        None => {
            controller.abort();
            Err(HttpError::Timeout(timeout_ms))
        }
    }
}

/// The body as text, read by the runtime in one call. (`worker::Response::text` pulls the
/// stream chunk by chunk through wasm, a few promises and JS calls per chunk.)
pub async fn body_text(response: &Response) -> worker::Result<String> {
    match response.body() {
        ResponseBody::Empty => Ok(String::new()),
        ResponseBody::Body(bytes) => String::from_utf8(bytes.clone())
            .map_err(|_| worker::Error::RustError("the body is not UTF-8 text".into())),
        ResponseBody::Stream(stream) => {
            let whole = worker::web_sys::Response::new_with_opt_readable_stream(Some(stream))?;
            JsFuture::from(whole.text()?)
                .await?
                .as_string()
                .ok_or_else(|| worker::Error::RustError("the body is not text".into()))
        }
    }
}

/// The body as bytes, read by the runtime in one call (see [`body_text`]).
pub async fn body_bytes(response: &Response) -> worker::Result<Vec<u8>> {
    match response.body() {
        ResponseBody::Empty => Ok(Vec::new()),
        ResponseBody::Body(bytes) => Ok(bytes.clone()),
        ResponseBody::Stream(stream) => {
            let whole = worker::web_sys::Response::new_with_opt_readable_stream(Some(stream))?;
            let buffer: js_sys::ArrayBuffer =
                JsFuture::from(whole.array_buffer()?).await?.dyn_into()?;
            Ok(js_sys::Uint8Array::new(&buffer).to_vec())
        }
    }
}
