//! The draft page's photos: the carousel as Instagram shows it (the first image's shape is
//! the frame of all, dots, swipe), the "AI info" label with why it is there, the photos to
//! choose or drop, each with its state, order buttons and removal, and the post's options
//! (first comment, collaborators, place, AI label). `media.js` makes it live through the
//! JSON API (`/api/v1/drafts/{id}/images`, `/options`, `/describe`).

use maud::{Markup, html};
use serde_json::Value;

/// The section, for a draft as the API shows it (`view`); `editable` while under review.
pub fn section(view: &Value, editable: bool) -> Markup {
    let options = &view["postOptions"];
    let text = |name: &str| options[name].as_str().unwrap_or("").to_owned();
    let collaborators: Vec<&str> = options["collaborators"]
        .as_array()
        .map(|names| names.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let ai_yes = options["aiLabel"].as_str() == Some("yes");
    let disabled = !editable;
    html! {
        section aria-labelledby="photos-title" class="card" id="photos" {
            h2 id="photos-title" { "Photos" }
            div class="carousel" id="carousel" aria-roledescription="carousel" aria-label="The post's images as Instagram shows them" {
                div class="slides" id="slides" tabindex="0" {}
                button type="button" class="slide-prev" id="slide-prev" aria-label="Previous image" { "‹" }
                button type="button" class="slide-next" id="slide-next" aria-label="Next image" { "›" }
                div class="dots" id="dots" aria-hidden="true" {}
            }
            p class="ai-label" id="ai-label" hidden {
                strong { "AI info" } " " span id="ai-label-why" {}
            }
            p class="meta" { "The first image's shape is the frame of every image in a carousel, as on Instagram." }
            @if editable {
                div class="dropzone" id="dropzone" {
                    label for="photo-files" { "Add photos " span class="hint" { "(JPEG, PNG or WebP, up to 10; choose or drop them here)" } }
                    input type="file" id="photo-files" accept="image/jpeg,image/png,image/webp" multiple;
                }
                ul class="upload-errors" id="upload-errors" aria-live="assertive" {}
                p id="photos-status" role="status" {}
            }
            ol class="media-items" id="media-items" {}
            @if editable {
                div class="actions" {
                    button type="button" id="describe" { "Describe the photos" }
                    span id="describe-status" role="status" {}
                }
            }
            form id="options-form" class="stack" novalidate {
                h3 { "Post options" }
                div class="field" {
                    label for="first-comment" { "First comment " span class="hint" { "(posted right after the post)" } }
                    textarea id="first-comment" rows="2" disabled[disabled] { (text("firstComment")) }
                    p class="problem" id="firstComment-problem" {}
                }
                div class="field" {
                    label for="collaborators" { "Collaborators " span class="hint" { "(usernames separated by spaces, at most 5)" } }
                    input id="collaborators" value=(collaborators.join(" ")) disabled[disabled];
                    p class="problem" id="collaborators-problem" {}
                }
                div class="field" {
                    label for="location-id" { "Location id " span class="hint" { "(a Facebook Page id of a place: digits)" } }
                    input id="location-id" inputmode="numeric" value=(text("locationId")) disabled[disabled];
                    p class="problem" id="locationId-problem" {}
                }
                div class="field" {
                    label {
                        input type="checkbox" id="ai-made" checked[ai_yes] disabled[disabled];
                        " An image was made or changed with AI (adds Instagram's \"AI info\" label)"
                    }
                    p class="problem" id="aiLabel-problem" {}
                }
                @if editable {
                    div class="actions" {
                        button type="submit" id="save-options" { "Save options" }
                        span id="options-status" role="status" {}
                    }
                }
            }
            script src="/review/assets/media.js" defer {}
        }
    }
}
