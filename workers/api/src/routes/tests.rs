use super::*;

fn check(method: &str, path: &str, expected: Option<(Route, &[&str])>) {
    let found = match find(method, path) {
        Match::Found { def, params } => Some((def.route, params)),
        _ => None,
    };
    let expected =
        expected.map(|(route, params)| (route, params.iter().map(|p| p.to_string()).collect()));
    assert_eq!(found, expected, "{method} {path}");
}

#[test]
fn matches_paths_to_routes() {
    check("GET", "/healthz", Some((Route::Healthz, &[])));
    check("POST", "/api/v1/generate", Some((Route::Generate, &[])));
    check(
        "GET",
        "/api/v1/drafts/abc",
        Some((Route::GetDraft, &["abc"])),
    );
    check(
        "PATCH",
        "/api/v1/drafts/abc",
        Some((Route::Act(DraftAction::Edit), &["abc"])),
    );
    check(
        "POST",
        "/api/v1/drafts/abc/approve",
        Some((Route::Act(DraftAction::Approve), &["abc"])),
    );
    check(
        "POST",
        "/api/v1/drafts/abc/schedule",
        Some((Route::Act(DraftAction::Schedule), &["abc"])),
    );
    check("GET", "/api/v1/drafts/", None);
    check("GET", "/api/v1/drafts/abc/extra", None);
    check(
        "GET",
        "/media/pending.svg",
        Some((Route::PendingImage, &[])),
    );
    check(
        "GET",
        "/media/images/x/y.jpg",
        Some((Route::Media, &["images/x/y.jpg"])),
    );
    check("GET", "/media/", None);
    check("GET", "/media/a//b", None);
    check("GET", "/nope", None);
    check("GET", "/review/login", Some((Route::ReviewLoginPage, &[])));
    check(
        "GET",
        "/review/failures",
        Some((Route::ReviewFailures, &[])),
    );
    check(
        "GET",
        "/review/assets/app.js",
        Some((Route::ReviewAsset, &["app.js"])),
    );
    check("GET", "/review/abc", Some((Route::ReviewDraft, &["abc"])));
    check(
        "GET",
        "/review/accounts",
        Some((Route::ReviewAccounts, &[])),
    );
    check(
        "GET",
        "/review/accounts/callback",
        Some((Route::AccountCallback, &[])),
    );
    check(
        "POST",
        "/review/accounts/123/disconnect",
        Some((Route::DisconnectAccount, &["123"])),
    );
}

#[test]
fn tells_a_wrong_method_from_a_missing_path() {
    assert_eq!(
        find("GET", "/api/v1/generate"),
        Match::WrongMethod {
            allowed: vec!["POST", "OPTIONS"]
        }
    );
    assert_eq!(
        find("DELETE", "/api/v1/drafts/x"),
        Match::WrongMethod {
            allowed: vec!["GET", "PATCH", "HEAD", "OPTIONS"]
        }
    );
    assert_eq!(find("GET", "/api/v2/generate"), Match::NotFound);
    assert_eq!(find("OPTIONS", "/api/v2/generate"), Match::NotFound);
}

#[test]
fn head_follows_get_and_options_lists_the_methods() {
    check("HEAD", "/healthz", Some((Route::Healthz, &[])));
    check(
        "HEAD",
        "/media/images/x/y.jpg",
        Some((Route::Media, &["images/x/y.jpg"])),
    );
    check("HEAD", "/api/v1/generate", None);
    assert_eq!(
        find("OPTIONS", "/healthz"),
        Match::Options {
            allowed: vec!["GET", "HEAD", "OPTIONS"]
        }
    );
}

/// The OpenAPI document lists exactly the routes that exist (media and the review page
/// aside, which are not part of the JSON API).
#[test]
fn openapi_document_matches_the_route_table() {
    let document: serde_json::Value = serde_json::from_str(crate::openapi::DOCUMENT).unwrap();
    let mut documented: Vec<(String, String)> = document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |method| (method.to_uppercase(), path.clone()))
        })
        .collect();
    let mut routes: Vec<(String, String)> = ROUTES
        .iter()
        .filter(|def| def.pattern.starts_with("/api/") || def.pattern == "/healthz")
        .map(|def| (def.method.to_owned(), def.pattern.to_owned()))
        .collect();
    documented.sort();
    routes.sort();
    assert_eq!(documented, routes);
}

/// Every JSON API route needs a credential, and the document says which, route by route:
/// exactly the schemes its `Access` accepts.
#[test]
fn the_api_is_protected_and_documented_as_such() {
    let document: serde_json::Value = serde_json::from_str(crate::openapi::DOCUMENT).unwrap();
    let default_security = &document["security"];
    for def in ROUTES {
        if def.pattern.starts_with("/api/") {
            assert!(
                matches!(
                    def.access,
                    Access::ApiToken | Access::TokenOrSession | Access::Reviewer
                ),
                "{def:?}"
            );
        }
        if !def.pattern.starts_with("/api/") && def.pattern != "/healthz" {
            continue;
        }
        let operation = &document["paths"][def.pattern][def.method.to_lowercase()];
        let security = operation.get("security").unwrap_or(default_security);
        let mut schemes: Vec<&str> = security
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s.as_object().unwrap().keys().map(String::as_str))
            .collect();
        schemes.sort();
        let expected: &[&str] = match def.access {
            Access::Public => &[],
            Access::ApiToken => &["apiToken"],
            Access::TokenOrSession => &["apiToken", "reviewSession", "reviewerToken"],
            Access::Reviewer => &["reviewSession", "reviewerToken"],
            Access::Session => unreachable!("pages are not in the document"),
        };
        assert_eq!(schemes, expected, "{def:?}");
    }
}

/// The decisions that send a post to Instagram, or take it back, are a person's.
#[test]
fn decisions_need_a_reviewer() {
    for name in ["approve", "reapprove", "schedule", "withdraw"] {
        let path = format!("/api/v1/drafts/abc/{name}");
        let Match::Found { def, .. } = find("POST", &path) else {
            panic!("no route for {path}");
        };
        assert_eq!(def.access, Access::Reviewer, "{path}");
    }
}
