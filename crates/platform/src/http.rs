//! Outgoing HTTP with a deadline. Workers' `fetch` has no timeout of its own, and a model or
//! API that hangs must not hold a request or a queue batch for minutes.

use futures::future::{Either, select};
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::{Delay, Headers, Response, ResponseBody, js_sys, web_sys};

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

/// An outgoing call, as plain data: no `worker::Request` is built (that wrapper reads the
/// method, URL and headers back from JS).
pub struct Call<'a> {
    pub method: &'a str,
    pub url: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
    pub body: Option<&'a str>,
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

/// Makes `call` and reads the whole body as text, both within `timeout_ms`: an answer that
/// stalls halfway is no answer. The deadline is the runtime's own `AbortSignal.timeout`, which
/// aborts the request, its connection and the body read.
pub async fn fetch_text(call: &Call<'_>, timeout_ms: u64) -> Result<TextAnswer, HttpError> {
    let deadline = web_sys::AbortSignal::timeout_with_f64(timeout_ms as f64);
    let exchange = async {
        let headers = web_sys::Headers::new()?;
        for (name, value) in call.headers {
            headers.set(name, value)?;
        }
        let init = web_sys::RequestInit::new();
        init.set_method(call.method);
        init.set_headers(&headers);
        if let Some(body) = call.body {
            init.set_body(&JsValue::from_str(body));
        }
        init.set_signal(Some(&deadline));
        let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
        let response: web_sys::Response =
            JsFuture::from(global.fetch_with_str_and_init(call.url, &init))
                .await?
                .dyn_into()?;
        let body = JsFuture::from(response.text()?).await?;
        Ok::<_, JsValue>(TextAnswer {
            status: response.status(),
            headers: Headers(response.headers()),
            body: body.as_string().unwrap_or_default(),
        })
    };
    exchange.await.map_err(|error| {
        if deadline.aborted() {
            HttpError::Timeout(timeout_ms)
        } else {
            HttpError::Transport(worker::Error::from(error).to_string())
        }
    })
}

/// The body as bytes, read by the runtime in one call. (`worker::Response::bytes` pulls the
/// stream chunk by chunk through wasm, a few promises and JS calls per chunk.)
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
