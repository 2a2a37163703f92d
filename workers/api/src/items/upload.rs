//! `POST /api/v1/drafts/{id}/images?name=<file name>`: one photo as the raw body, checked as
//! it streams and by its bytes, kept in R2 under [`UPLOAD_PREFIX`], added `pending`, and
//! handed to the image consumer to fit.

use domain::message::{Action, QueueMessage};
use domain::post_format::{ItemImage, MAX_ITEMS, MediaItem, MediaSource};
use media::{MAX_UPLOAD_BYTES, UploadInfo, inspect_upload};
use platform::clock::{now, random_hex};
use platform::media::MEDIA_BINDING;
use platform::queue::{IMAGE_QUEUE, send};
use platform::store::DraftStore;
use serde_json::json;
use worker::{Request, Response};

use super::{UPLOAD_PREFIX, add_item, items_of, open_for_images};
use crate::body::{self, problem};
use crate::decide::DraftCall;
use crate::drafts;
use crate::reply::{self, ApiError};

/// The longest file name kept, in characters.
const MAX_NAME_CHARS: usize = 200;

/// `POST /api/v1/drafts/{id}/images?name=...`
pub async fn upload(call: DraftCall<'_>) -> Result<Response, ApiError> {
    let DraftCall {
        req,
        env,
        ctx,
        actor,
        id,
    } = call;
    let id = drafts::parse_id(id)?;
    let store = DraftStore::from_env(env)?;
    let row = drafts::visible_row(&store, id).await?;
    // The query from the URL's text: parsing it as a `Url` would link the url crate's IDNA tables.
    let query = drafts::query_pairs(&req.inner().url());
    let name = file_name(body::value(&query, "name"))?;
    let refuse = |reason: String| format!("{name}: {reason}");
    sent_as_image(req, &refuse)?;
    open_for_images(&row)?;
    let count = items_of(&row)?.len();
    if count >= MAX_ITEMS {
        return Err(ApiError::Conflict(refuse(format!(
            "the post has {count} images, the most a carousel takes"
        ))));
    }
    let (bytes, info) = read_photo(req, &refuse).await?;

    let item_id = random_hex::<8>();
    let upload = format!("{UPLOAD_PREFIX}{id}/{item_id}");
    let bucket = env.bucket(MEDIA_BINDING)?;
    let metadata = worker::HttpMetadata {
        content_type: Some(format!(
            "image/{}",
            info.format.as_str().to_ascii_lowercase()
        )),
        ..Default::default()
    };
    bucket
        .put(&upload, bytes)
        .http_metadata(metadata)
        .execute()
        .await?;
    let item = MediaItem {
        id: item_id,
        source: MediaSource::Uploaded,
        alt_text: String::new(),
        image: ItemImage::Pending {
            upload: upload.clone(),
        },
    };
    let written = add_item(&store, id, row, item).await;
    let row = match written {
        Ok(row) => row,
        Err(error) => {
            // Not recorded: nobody will ever fit it.
            if let Err(e) = bucket.delete(&upload).await {
                worker::console_warn!("draft {id}: removing unrecorded upload {upload}: {e}");
            }
            return Err(error);
        }
    };
    // Recorded: if the message cannot be sent, the item stays pending and a later upload's
    // message fits it too; the page shows it waiting.
    let message = QueueMessage::new(id, Action::FitUploads, 1, now());
    if let Err(e) = send(env, IMAGE_QUEUE, &message, 0).await {
        worker::console_error!("draft {id}: queueing the fitting of {upload}: {e}");
    }
    let origin = drafts::origin(req);
    let max_hashtags = crate::config::max_hashtags(env)?;
    drafts::refresh_copy(env, ctx, &row);
    let details = json!({ "upload": name, "format": info.format.as_str(), "width": info.width, "height": info.height });
    crate::review_trace::event(env, ctx, actor, "add_image", &row, details);
    let view = drafts::view(&origin, &row, max_hashtags)
        .ok_or_else(|| ApiError::Internal("a visible draft without text".into()))?;
    reply::json(201, &view)
}

/// The file name as the answers name it: given, short, without control characters.
fn file_name(name: Option<&str>) -> Result<String, ApiError> {
    let name = name.map(str::trim).unwrap_or("");
    if name.is_empty() {
        return Err(ApiError::Validation(vec![problem(
            "name",
            "required: the file's name, as a query parameter",
        )]));
    }
    Ok(name
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_NAME_CHARS)
        .collect())
}

/// A photo is sent as `image/*`; anything else is refused before the body is read.
fn sent_as_image(req: &Request, refuse: &impl Fn(String) -> String) -> Result<(), ApiError> {
    let content_type = req
        .headers()
        .get("content-type")?
        .unwrap_or_default()
        .to_ascii_lowercase();
    if !content_type.trim().starts_with("image/") {
        return Err(ApiError::UnsupportedType(refuse(format!(
            "sent as {:?}; a photo is sent as image/jpeg, image/png or image/webp",
            content_type.trim()
        ))));
    }
    Ok(())
}

/// The body, counted as it streams and dropped at [`MAX_UPLOAD_BYTES`], and what its bytes
/// say it is; each refusal names the file.
async fn read_photo(
    req: &mut Request,
    refuse: &impl Fn(String) -> String,
) -> Result<(Vec<u8>, UploadInfo), ApiError> {
    let bytes = body::read(req, MAX_UPLOAD_BYTES)
        .await
        .map_err(|error| match error {
            ApiError::TooLarge(max) => ApiError::UploadTooLarge(refuse(format!(
                "the file is larger than {} MiB, the most a photo may be",
                max / (1024 * 1024)
            ))),
            other => other,
        })?;
    let info = inspect_upload(&bytes).map_err(|error| {
        if error.is_wrong_type() {
            ApiError::UnsupportedType(refuse(error.to_string()))
        } else {
            ApiError::Unprocessable(refuse(error.to_string()))
        }
    })?;
    Ok((bytes, info))
}
