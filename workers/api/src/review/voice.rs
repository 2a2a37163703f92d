//! `/review/voice`: each account's voice in a small form of its own. `voice.js` saves a form
//! through `PUT /api/v1/accounts/{id}/voice` with the revision the page was rendered at, so a
//! voice someone saved meanwhile is a conflict shown on the form, never overwritten unseen.

use domain::content::MAX_CAPTION_CHARS;
use domain::voice::{
    MAX_ALWAYS_HASHTAGS, MAX_AVOID_WORDS, MAX_NEVER_HASHTAGS, MAX_SAMPLE_CAPTIONS, MAX_TONE_CHARS,
};
use maud::{Markup, html};
use platform::voice::{StoredVoice, VoiceStore};
use worker::{Env, Response};

use super::html::{layout, page_response, time};
use crate::auth::Actor;
use crate::reply::ApiError;

pub async fn page(env: &Env, actor: &Actor) -> Result<Response, ApiError> {
    let mut accounts = VoiceStore::from_env(env)?.all().await?;
    // A reviewer limited to some accounts sees only theirs.
    if actor.accounts.is_some() {
        let rows = platform::accounts::AccountStore::from_env(env)?
            .all()
            .await?;
        let scope = crate::scope::Scope::of(actor, &rows);
        accounts.retain(|a| scope.allows(Some(&a.account_id)));
    }
    let body = html! {
        h1 { "Voice" }
        p class="hint" { "Each account's voice: generated posts are written in it, and a post that uses a word to avoid or a hashtag never used cannot be saved." }
        script src="/review/assets/voice.js" defer {}
        @if accounts.is_empty() {
            p class="empty" { "No account is connected yet." }
        }
        @for (n, account) in accounts.iter().enumerate() { (form(n, account)) }
    };
    page_response(200, layout("Voice", Some(&actor.name), body))
}

/// One account's voice, its fields named `v{n}-{field}`.
fn form(n: usize, account: &StoredVoice) -> Markup {
    let raw = account.raw();
    let label = account
        .username
        .as_deref()
        .filter(|u| !u.is_empty())
        .map_or_else(
            || format!("Account {}", account.account_id),
            |u| format!("@{u}"),
        );
    let tags = |list: &[String]| {
        list.iter()
            .map(|t| format!("#{t}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let id = |field: &str| format!("v{n}-{field}");
    let field = |name: &str, label: &str, control: Markup, hint: &str| {
        html! {
            div class="field" {
                label for=(id(name)) { (label) }
                (control)
                p class="hint" { (hint) }
                p class="problem" id={ (id(name)) "-problem" } data-problem=(name) {}
            }
        }
    };
    html! {
        section class="card" aria-labelledby=(id("title")) {
            h2 id=(id("title")) { (label) }
            form class="voice-form stack" data-account=(account.account_id) data-revision=(account.revision) novalidate {
                (field("language", "Language",
                    html! { input id=(id("language")) name="language" value=(raw.language.as_deref().unwrap_or("")) placeholder="en, ja-JP" autocapitalize="none" spellcheck="false"; },
                    "Used when a request names none."))
                (field("tone", "Tone",
                    html! { input id=(id("tone")) name="tone" value=(raw.tone) maxlength=(MAX_TONE_CHARS); },
                    "A phrase or two, such as “warm, plain words, no exclamation marks”."))
                (field("alwaysHashtags", "Hashtags always used",
                    html! { input id=(id("alwaysHashtags")) name="alwaysHashtags" value=(tags(&raw.always_hashtags)) autocapitalize="none"; },
                    &format!("Separated by spaces; at most {MAX_ALWAYS_HASHTAGS}.")))
                (field("neverHashtags", "Hashtags never used",
                    html! { input id=(id("neverHashtags")) name="neverHashtags" value=(tags(&raw.never_hashtags)) autocapitalize="none"; },
                    &format!("Separated by spaces; at most {MAX_NEVER_HASHTAGS}.")))
                (field("avoidWords", "Words to avoid",
                    html! { textarea id=(id("avoidWords")) name="avoidWords" rows="3" { (raw.avoid_words.join("\n")) } },
                    &format!("One word or phrase a line; found in any case, as whole words. At most {MAX_AVOID_WORDS}.")))
                @for i in 0..MAX_SAMPLE_CAPTIONS {
                    @let name = format!("sampleCaptions[{i}]");
                    (field(&name, &format!("Past caption {}", i + 1),
                        html! { textarea id=(id(&name)) name="sampleCaptions" rows="3" maxlength=(MAX_CAPTION_CHARS) { (raw.sample_captions.get(i).map_or("", String::as_str)) } },
                        "Optional: shows the model the account's style."))
                }
                p class="problem" data-problem="" {}
                div class="actions" {
                    button type="submit" class="primary" { "Save voice" }
                    span class="hint" role="status" data-saved {
                        @match (&account.updated_by, &account.updated_at) {
                            (Some(by), Some(at)) => { "Saved by " (by) " on " (time(at)) "." }
                            _ => { "Not saved yet." }
                        }
                    }
                }
            }
        }
    }
}
