//! `/review/accounts`: the accounts a reviewer may see, and the ways to connect one.

use maud::{Markup, PreEscaped, html};
use platform::accounts::{AccountAction, AccountRow, AccountStore};
use worker::{Env, Request, Response};

use super::graph::Settings;
use crate::auth::Actor;
use crate::drafts::query_pairs;
use crate::reply::ApiError;
use crate::review::html::{layout, page_response, page_response_sending_forms_to, time};
use crate::scope::Scope;

/// `/review/accounts`: the accounts the reviewer may see, and the ways to connect one.
pub async fn page(req: &Request, env: &Env, actor: &Actor) -> Result<Response, ApiError> {
    let query = query_pairs(&req.inner().url());
    let get = |name: &str| crate::body::value(&query, name);
    let notice = match (get("connected"), get("disconnected")) {
        (Some(name), _) => Some((
            "published",
            format!("Connected {}.", name.chars().take(40).collect::<String>()),
        )),
        (_, Some(name)) => Some((
            "waiting",
            format!(
                "Disconnected {}.",
                name.chars().take(40).collect::<String>()
            ),
        )),
        _ => None,
    };
    render(
        env,
        actor,
        200,
        notice.as_ref().map(|(c, t)| (*c, t.as_str())),
    )
    .await
}

/// The page with a notice (`class`: `published`, `waiting` or `failed`) and `status`.
pub(super) async fn render(
    env: &Env,
    actor: &Actor,
    status: u16,
    notice: Option<(&str, &str)>,
) -> Result<Response, ApiError> {
    let (accounts, actions) = AccountStore::from_env(env)?.overview().await?;
    let scope = Scope::of(actor, &accounts);
    let visible: Vec<&AccountRow> = accounts
        .iter()
        .filter(|a| scope.allows_account(a))
        .collect();
    let shown: Vec<&AccountAction> = actions
        .iter()
        .filter(|a| scope.allows(Some(&a.account_id)))
        .collect();
    let body = html! {
        h1 { "Accounts" }
        @if let Some((class, text)) = notice {
            div class={ "notice " (class) } role=(if class == "failed" { "alert" } else { "status" }) id="accounts-notice" { (text) }
        }
        @if visible.is_empty() {
            p class="empty" { "No accounts connected yet." }
        } @else {
            (table(&visible, accounts.first().map(|d| d.id.as_str())))
        }
        @if actor.accounts.is_none() { (connect_forms()) }
        @if !shown.is_empty() {
            section class="card" aria-labelledby="acts-title" {
                h2 id="acts-title" { "Recent changes" }
                ol class="history" {
                    @for act in shown {
                        li {
                            span class="when" { (time(&act.created_at)) } " "
                            strong { (act.reviewer) } " "
                            (match act.action.as_str() {
                                "connect" => "connected",
                                "reconnect" => "connected again",
                                _ => "disconnected",
                            })
                            " " (crate::scope::label(&accounts, Some(&act.account_id)))
                        }
                    }
                }
            }
        }
    };
    // "Connect" answers with a redirect to Instagram Login's page, which `form-action` holds.
    let authorize = Settings::from_env(env)
        .map(|s| origin_of(&s.login.authorize_base_url))
        .unwrap_or_default();
    let html = layout("Accounts", Some(&actor.name), body);
    if authorize.is_empty() || authorize.contains([';', ',', ' ', '\'', '"']) {
        return page_response(status, html);
    }
    page_response_sending_forms_to(status, html, &authorize)
}

/// The accounts, the default first.
fn table(visible: &[&AccountRow], default: Option<&str>) -> Markup {
    html! {
        div class="scroll" {
            table id="accounts" {
                caption { "Instagram accounts drafts are published to; the first is the default" }
                thead {
                    tr {
                        th scope="col" { "Account" }
                        th scope="col" { "Login" }
                        th scope="col" { "State" }
                        th scope="col" { "Token expires" }
                        th scope="col" { "Connected by" }
                        th scope="col" {}
                    }
                }
                tbody {
                    @for account in visible { (row(account, default == Some(account.id.as_str()))) }
                }
            }
        }
    }
}

fn row(account: &AccountRow, default: bool) -> Markup {
    let login_kind = match account.login.as_str() {
        "instagram" => "Instagram Login",
        _ => "Facebook Login",
    };
    let state = match account.state.as_str() {
        "needs_reconnect" => "needs reconnect".to_owned(),
        other => other.replace('_', " "),
    };
    html! {
        tr data-account=(account.id) {
            th scope="row" {
                (account.label())
                @if default { " " span class="hint" { "(default)" } }
                br; span class="hint" { (account.id) }
            }
            td data-label="Login" { (login_kind) }
            td data-label="State" {
                span class={ "badge " (account.state) } { (state) }
                @if let Some(reason) = &account.state_reason { br; span class="detail" { (reason) } }
            }
            td data-label="Token expires" {
                @match &account.token_expires_at {
                    Some(at) => (time(at)),
                    None => "does not expire",
                }
            }
            td data-label="Connected by" { (account.connected_by) br; span class="hint" { (time(&account.connected_at)) } }
            td {
                @if account.token_ciphertext.is_some() {
                    form method="post" action={ "/review/accounts/" (account.id) "/disconnect" } {
                        button type="submit" class="danger" { "Disconnect" }
                    }
                }
            }
        }
    }
}

/// Instagram Login, or a pasted token: for a reviewer of every account.
fn connect_forms() -> Markup {
    html! {
        section class="card" aria-labelledby="connect-title" {
            h2 id="connect-title" { "Connect an account" }
            form method="post" action="/review/accounts/connect" {
                p class="hint" { "Instagram Login: you sign in on Instagram and allow publishing; the account comes back here connected. Connecting a connected account again gives it a new token." }
                button type="submit" class="primary" id="connect" { "Connect an Instagram account" }
            }
            form method="post" action="/review/accounts/token" class="stack" id="token-form" {
                h3 { "Or paste a token" }
                p class="hint" { "A Facebook Login or system-user token with instagram_basic and instagram_content_publish. It is checked against the Graph API before it is stored, and never shown again." }
                label for="account-id" { "Instagram account id" }
                input id="account-id" name="account" inputmode="numeric" autocomplete="off" required;
                label for="token" { "Access token" }
                input id="token" name="token" type="password" autocomplete="off" required;
                div class="actions" { button type="submit" id="paste" { "Check and connect" } }
            }
        }
    }
}

/// The callback asking for itself again from this site, so the session cookie comes along.
pub(super) fn resume(again: &str) -> String {
    html! {
        (PreEscaped("<!doctype html>"))
        html lang="en" {
            head {
                meta charset="utf-8";
                meta http-equiv="refresh" content={ "0;url=" (again) };
                title { "Connecting · Review" }
            }
            body { p { "Connecting the account… " a href=(again) { "Continue" } } }
        }
    }
    .into_string()
}

/// `scheme://host[:port]` of a URL.
fn origin_of(url: &str) -> String {
    let start = url.find("://").map_or(0, |i| i + 3);
    let end = url[start..].find('/').map_or(url.len(), |i| start + i);
    url[..end].to_owned()
}
