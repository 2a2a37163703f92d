//! `/review/voice`: each account's voice in a small form of its own. `voice.js` saves a form
//! through `PUT /api/v1/accounts/{id}/voice` with the revision the page was rendered at, so a
//! voice someone saved meanwhile is a conflict shown on the form, never overwritten unseen.

use std::fmt::Write;

use domain::content::MAX_CAPTION_CHARS;
use domain::voice::{
    MAX_ALWAYS_HASHTAGS, MAX_AVOID_WORDS, MAX_NEVER_HASHTAGS, MAX_SAMPLE_CAPTIONS, MAX_TONE_CHARS,
};
use platform::voice::VoiceStore;
use worker::{Env, Response};

use super::html::{esc, layout, page_response, time};
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
    let mut body = String::from(
        r#"<h1>Voice</h1><p class="hint">Each account's voice: generated posts are written in it, and a post that uses a word to avoid or a hashtag never used cannot be saved.</p><script src="/review/assets/voice.js" defer></script>"#,
    );
    if accounts.is_empty() {
        body.push_str(r#"<p class="empty">No account is connected yet.</p>"#);
    }
    for (n, account) in accounts.iter().enumerate() {
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
        let field = |body: &mut String, name: &str, label: &str, control: String, hint: &str| {
            let _ = write!(
                body,
                r#"<div class="field"><label for="{id}">{label}</label>{control}<p class="hint">{hint}</p><p class="problem" id="{id}-problem" data-problem="{name}"></p></div>"#,
                id = id(name),
            );
        };
        let _ = write!(
            body,
            r#"<section class="card" aria-labelledby="{title}"><h2 id="{title}">{label}</h2><form class="voice-form stack" data-account="{account}" data-revision="{revision}" novalidate>"#,
            title = id("title"),
            label = esc(&label),
            account = esc(&account.account_id),
            revision = account.revision,
        );
        field(
            &mut body,
            "language",
            "Language",
            format!(
                r#"<input id="{}" name="language" value="{}" placeholder="en, ja-JP" autocapitalize="none" spellcheck="false">"#,
                id("language"),
                esc(raw.language.as_deref().unwrap_or(""))
            ),
            "Used when a request names none.",
        );
        field(
            &mut body,
            "tone",
            "Tone",
            format!(
                r#"<input id="{}" name="tone" value="{}" maxlength="{MAX_TONE_CHARS}">"#,
                id("tone"),
                esc(&raw.tone)
            ),
            "A phrase or two, such as “warm, plain words, no exclamation marks”.",
        );
        field(
            &mut body,
            "alwaysHashtags",
            "Hashtags always used",
            format!(
                r#"<input id="{}" name="alwaysHashtags" value="{}" autocapitalize="none">"#,
                id("alwaysHashtags"),
                esc(&tags(&raw.always_hashtags))
            ),
            &format!("Separated by spaces; at most {MAX_ALWAYS_HASHTAGS}."),
        );
        field(
            &mut body,
            "neverHashtags",
            "Hashtags never used",
            format!(
                r#"<input id="{}" name="neverHashtags" value="{}" autocapitalize="none">"#,
                id("neverHashtags"),
                esc(&tags(&raw.never_hashtags))
            ),
            &format!("Separated by spaces; at most {MAX_NEVER_HASHTAGS}."),
        );
        field(
            &mut body,
            "avoidWords",
            "Words to avoid",
            format!(
                r#"<textarea id="{}" name="avoidWords" rows="3">{}</textarea>"#,
                id("avoidWords"),
                esc(&raw.avoid_words.join("\n"))
            ),
            &format!(
                "One word or phrase a line; found in any case, as whole words. At most {MAX_AVOID_WORDS}."
            ),
        );
        for i in 0..MAX_SAMPLE_CAPTIONS {
            field(
                &mut body,
                &format!("sampleCaptions[{i}]"),
                &format!("Past caption {}", i + 1),
                format!(
                    r#"<textarea id="{}" name="sampleCaptions" rows="3" maxlength="{MAX_CAPTION_CHARS}">{}</textarea>"#,
                    id(&format!("sampleCaptions[{i}]")),
                    esc(raw.sample_captions.get(i).map_or("", String::as_str))
                ),
                "Optional: shows the model the account's style.",
            );
        }
        let saved = match (&account.updated_by, &account.updated_at) {
            (Some(by), Some(at)) => format!("Saved by {} on {}.", esc(by), time(at)),
            _ => "Not saved yet.".to_owned(),
        };
        let _ = write!(
            body,
            r#"<p class="problem" data-problem=""></p><div class="actions"><button type="submit" class="primary">Save voice</button><span class="hint" role="status" data-saved>{saved}</span></div></form></section>"#
        );
    }
    page_response(200, layout("Voice", Some(&actor.name), &body))
}
