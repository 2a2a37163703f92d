//! Sending and receiving [`QueueMessage`]s. Bodies cross as plain JSON objects so that the
//! strict parser in `domain` sees exactly what was sent.

use domain::message::{MessageError, QueueMessage};
use worker::js_sys::JSON;

use crate::store::{DeadLetter, DraftStore};
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

/// The well-formed messages of a batch, each with the time it was taken up.
///
/// A message that cannot be parsed (a newer producer's format, say) is never acked here:
/// it is recorded in D1 `dead_letters` with its raw body, for an operator, and retried, so
/// the queue hands it on to its dead-letter queue rather than dropping the work.
pub async fn well_formed(
    env: &Env,
    batch: &MessageBatch<JsValue>,
) -> Vec<(RawMessage, QueueMessage, time::OffsetDateTime)> {
    let queue = batch.queue();
    let mut good = Vec::new();
    for raw in batch.raw_iter() {
        match parse(&raw.body()) {
            Ok(message) => good.push((raw, message, crate::clock::now())),
            Err(error) => {
                worker::console_error!("malformed message {} on {queue}: {error}", raw.id());
                let body = JSON::stringify(&raw.body())
                    .map(String::from)
                    .unwrap_or_else(|_| format!("{:?}", raw.body()));
                let letter = DeadLetter {
                    message_id: &raw.id(),
                    queue: &queue,
                    body: &body,
                    reason: &error.to_string(),
                };
                let recorded = match DraftStore::from_env(env) {
                    Ok(store) => store.record_dead_letter(&letter, crate::clock::now()).await,
                    Err(e) => Err(e),
                };
                if let Err(e) = recorded {
                    worker::console_error!("recording malformed message {}: {e}", raw.id());
                }
                raw.retry();
            }
        }
    }
    good
}

/// Parses a received body; a body that is not JSON at all counts as malformed.
pub fn parse(raw_body: &JsValue) -> Result<QueueMessage, MessageError> {
    let text: String = JSON::stringify(raw_body)
        .map(String::from)
        .map_err(|_| MessageError::NotAnObject)?;
    QueueMessage::parse_str(&text)
}
