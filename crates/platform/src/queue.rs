//! Sending and receiving [`QueueMessage`]s. Bodies cross as plain JSON objects so that the
//! strict parser in `domain` sees exactly what was sent.

use domain::message::{MessageError, QueueMessage};
use worker::js_sys::JSON;
use worker::wasm_bindgen::JsValue;
use worker::{
    Env, MessageBatch, MessageExt, Queue, QueueContentType, RawMessage, RawMessageBuilder,
};

/// Binding names, the same in every Worker's config.
pub const PUBLISH_QUEUE: &str = "PUBLISH_QUEUE";
pub const IMAGE_QUEUE: &str = "IMAGE_QUEUE";
pub const FAILED_QUEUE: &str = "FAILED_QUEUE";

/// Queue names, as `queue.name` reports them in a consumer.
pub const PUBLISH_QUEUE_NAME: &str = "publish-queue";
pub const IMAGE_QUEUE_NAME: &str = "image-queue";
pub const FAILED_QUEUE_NAME: &str = "failed-queue";

pub async fn send(
    env: &Env,
    binding: &str,
    message: &QueueMessage,
    delay_seconds: u32,
) -> worker::Result<()> {
    let queue: Queue = env.queue(binding)?;
    let body = JSON::parse(&message.to_json().to_string())
        .map_err(|_| worker::Error::RustError("queue message is not JSON".into()))?;
    let mut builder = RawMessageBuilder::new(body);
    if delay_seconds > 0 {
        builder = builder.delay_seconds(delay_seconds);
    }
    queue
        .send_raw(builder.build_with_content_type(QueueContentType::Json))
        .await
}

/// The well-formed messages of a batch, each with the time it was taken up. A malformed one
/// is logged and acked here: retrying cannot fix it, and it must not block the queue.
pub fn well_formed(
    batch: &MessageBatch<JsValue>,
) -> Vec<(RawMessage, QueueMessage, time::OffsetDateTime)> {
    let queue = batch.queue();
    batch
        .raw_iter()
        .filter_map(|raw| match parse(&raw.body()) {
            Ok(message) => Some((raw, message, crate::clock::now())),
            Err(error) => {
                worker::console_error!("dropping a malformed message on {queue}: {error}");
                raw.ack();
                None
            }
        })
        .collect()
}

/// Parses a received body; a body that is not JSON at all counts as malformed.
pub fn parse(raw_body: &JsValue) -> Result<QueueMessage, MessageError> {
    let text: String = JSON::stringify(raw_body)
        .map(String::from)
        .map_err(|_| MessageError::NotAnObject)?;
    QueueMessage::parse_str(&text)
}
