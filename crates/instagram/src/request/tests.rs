use super::*;

fn config(base_url: &str) -> GraphConfig {
    GraphConfig {
        base_url: base_url.to_owned(),
        api_version: "v25.0".to_owned(),
        user_id: "17841405822304914".to_owned(),
    }
}

fn pairs(fields: &[(&str, &str)]) -> Vec<(String, String)> {
    fields
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect()
}

fn check(request: GraphRequest, expect: (&str, &str, Option<&str>)) {
    let (method, url, body) = expect;
    assert_eq!(
        (
            request.method,
            request.url.as_str(),
            request.body().as_deref()
        ),
        (method, url, body),
        "{request:?}"
    );
    let content_type = body.map(|_| FORM_CONTENT_TYPE);
    assert_eq!(request.content_type(), content_type, "{request:?}");
}

#[test]
fn requests_of_the_publishing_flow() {
    let ig = config("https://graph.instagram.com");
    check(
        ig.create_container(
            "https://media.example.com/p/1.jpg",
            "Hello",
            "A red bicycle",
            &PostFields::default(),
        ),
        (
            "POST",
            "https://graph.instagram.com/v25.0/17841405822304914/media",
            Some(
                "image_url=https%3A%2F%2Fmedia.example.com%2Fp%2F1.jpg&caption=Hello&alt_text=A+red+bicycle",
            ),
        ),
    );
    check(
        ig.create_container(
            "https://media.example.com/p/1.jpg",
            "Hello",
            "",
            &PostFields::default(),
        ),
        (
            "POST",
            "https://graph.instagram.com/v25.0/17841405822304914/media",
            Some("image_url=https%3A%2F%2Fmedia.example.com%2Fp%2F1.jpg&caption=Hello"),
        ),
    );
    check(
        ig.container_status("17889455560051444"),
        (
            "GET",
            "https://graph.instagram.com/v25.0/17889455560051444?fields=status_code,status",
            None,
        ),
    );
    check(
        ig.publish("17889455560051444"),
        (
            "POST",
            "https://graph.instagram.com/v25.0/17841405822304914/media_publish",
            Some("creation_id=17889455560051444"),
        ),
    );
    check(
        ig.publishing_limit(),
        (
            "GET",
            "https://graph.instagram.com/v25.0/17841405822304914/content_publishing_limit?fields=quota_usage,config",
            None,
        ),
    );
    check(
        ig.media_permalink("17920238422030506"),
        (
            "GET",
            "https://graph.instagram.com/v25.0/17920238422030506?fields=permalink",
            None,
        ),
    );
    check(
        ig.recent_media(25, None),
        (
            "GET",
            "https://graph.instagram.com/v25.0/17841405822304914/media?fields=id,caption,timestamp&limit=25",
            None,
        ),
    );
    check(
        ig.recent_media(25, Some("QVFI&x=1")),
        (
            "GET",
            "https://graph.instagram.com/v25.0/17841405822304914/media?fields=id,caption,timestamp&limit=25&after=QVFI%26x%3D1",
            None,
        ),
    );
}

#[test]
fn host_and_version_are_configuration() {
    check(
        config("https://graph.facebook.com/").publish("1"),
        (
            "POST",
            "https://graph.facebook.com/v25.0/17841405822304914/media_publish",
            Some("creation_id=1"),
        ),
    );
    let fake = GraphConfig {
        base_url: "http://127.0.0.1:8787//".to_owned(),
        api_version: "/v24.0/".to_owned(),
        user_id: "42".to_owned(),
    };
    check(
        fake.container_status("7"),
        (
            "GET",
            "http://127.0.0.1:8787/v24.0/7?fields=status_code,status",
            None,
        ),
    );
    let unversioned = GraphConfig {
        api_version: String::new(),
        ..fake
    };
    check(
        unversioned.publishing_limit(),
        (
            "GET",
            "http://127.0.0.1:8787/42/content_publishing_limit?fields=quota_usage,config",
            None,
        ),
    );
}

#[test]
fn ids_cannot_change_the_path_or_the_query() {
    let ig = config("https://graph.instagram.com");
    check(
        ig.container_status("1/../me?access_token=x"),
        (
            "GET",
            "https://graph.instagram.com/v25.0/1%2F..%2Fme%3Faccess_token%3Dx?fields=status_code,status",
            None,
        ),
    );
    check(
        ig.media_permalink("a b#c"),
        (
            "GET",
            "https://graph.instagram.com/v25.0/a%20b%23c?fields=permalink",
            None,
        ),
    );
}

fn check_encode(fields: &[(&str, &str)], expect: &str) {
    let pairs = pairs(fields);
    let encoded = form_urlencode(&pairs);
    assert_eq!(encoded, expect, "{fields:?}");
    assert_eq!(decode_form(&encoded), pairs, "round trip of {fields:?}");
}

#[test]
fn form_encoding() {
    check_encode(&[], "");
    check_encode(&[("a", "")], "a=");
    check_encode(&[("a", "b"), ("c", "d")], "a=b&c=d");
    check_encode(&[("safe", "AZaz09*-._")], "safe=AZaz09*-._");
    check_encode(
        &[("caption", "a b+c&d=e#f%g?h/i~j'k\"l")],
        "caption=a+b%2Bc%26d%3De%23f%25g%3Fh%2Fi%7Ej%27k%22l",
    );
    check_encode(
        &[("caption", "line1\nline2\r\n")],
        "caption=line1%0Aline2%0D%0A",
    );
    check_encode(&[("a&b", "c=d")], "a%26b=c%3Dd");
    check_encode(
        &[("caption", "春の新作☕\n#カフェ #coffee & 🍰+")],
        "caption=%E6%98%A5%E3%81%AE%E6%96%B0%E4%BD%9C%E2%98%95%0A%23%E3%82%AB%E3%83%95%E3%82%A7+%23coffee+%26+%F0%9F%8D%B0%2B",
    );
}

#[test]
fn a_japanese_caption_reaches_instagram_unchanged() {
    let caption = "週末限定の苺タルト🍓\n\n焼きたてをどうぞ。\n#苺 #タルト #cafe_tokyo\n@friend & family 100%+α";
    let request = config("https://graph.instagram.com").create_container(
        "https://media.example.com/p/2.jpg?v=1&s=a b",
        caption,
        "苺のタルトの写真",
        &PostFields::default(),
    );
    let body = request.body().unwrap_or_default();
    assert!(
        body.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"*-._%+=&".contains(&b)),
        "{body}"
    );
    assert_eq!(
        decode_form(&body),
        pairs(&[
            ("image_url", "https://media.example.com/p/2.jpg?v=1&s=a b"),
            ("caption", caption),
            ("alt_text", "苺のタルトの写真"),
        ])
    );
}

#[test]
fn no_request_carries_a_token() {
    for base_url in ["https://graph.instagram.com", "https://graph.facebook.com"] {
        let graph = config(base_url);
        let requests = [
            graph.create_container(
                "https://media.example.com/p/1.jpg",
                "Hi",
                "Alt",
                &PostFields::default(),
            ),
            graph.create_carousel_item("https://media.example.com/p/1.jpg", "Alt"),
            graph.create_carousel(&["1".into(), "2".into()], "Hi", &PostFields::default()),
            graph.post_comment("2", "First!"),
            graph.comments("2"),
            graph.container_status("1"),
            graph.publish("1"),
            graph.publishing_limit(),
            graph.media_permalink("2"),
        ];
        for request in requests {
            let text = format!("{} {}", request.url, request.body().unwrap_or_default());
            assert!(!text.to_ascii_lowercase().contains("token"), "{text}");
            assert!(!request.form.iter().any(|(name, _)| name.contains("token")));
        }
    }
}

/// A decoder written from the standard, independent of the encoder under test.
fn decode_form(encoded: &str) -> Vec<(String, String)> {
    fn decode(part: &str) -> String {
        let bytes = part.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' => {
                    let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                    out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                    i += 2;
                }
                byte => out.push(byte),
            }
            i += 1;
        }
        String::from_utf8(out).unwrap_or_default()
    }
    if encoded.is_empty() {
        return Vec::new();
    }
    encoded
        .split('&')
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(name), decode(value))
        })
        .collect()
}

#[test]
fn the_refresh_request_has_no_version_and_leaves_the_token_to_the_shell() {
    for base in [
        "https://graph.instagram.com",
        "https://graph.instagram.com/",
    ] {
        let request = refresh_access_token(base);
        check(
            request.clone(),
            (
                "GET",
                "https://graph.instagram.com/refresh_access_token?grant_type=ig_refresh_token",
                None,
            ),
        );
        assert!(request.token_in_query);
    }
    assert!(
        !config("https://graph.instagram.com")
            .publishing_limit()
            .token_in_query
    );
}

#[test]
fn requests_of_a_carousel_and_its_first_comment() {
    let ig = config("https://graph.instagram.com");
    let collaborators = ["maker.one".to_owned(), "maker_two".to_owned()];
    let fields = PostFields {
        collaborators: &collaborators,
        location_id: Some("110843418940484"),
        is_ai_generated: true,
    };
    let single = ig.create_container("https://m.example.com/1.jpg", "Hi", "A cup", &fields);
    assert_eq!(
        decode_form(&single.body().unwrap_or_default()),
        pairs(&[
            ("image_url", "https://m.example.com/1.jpg"),
            ("caption", "Hi"),
            ("alt_text", "A cup"),
            ("collaborators", r#"["maker.one","maker_two"]"#),
            ("location_id", "110843418940484"),
            ("is_ai_generated", "true"),
        ])
    );
    check(
        ig.create_carousel_item("https://m.example.com/2.jpg", "A spoon"),
        (
            "POST",
            "https://graph.instagram.com/v25.0/17841405822304914/media",
            Some(
                "is_carousel_item=true&image_url=https%3A%2F%2Fm.example.com%2F2.jpg&alt_text=A+spoon",
            ),
        ),
    );
    let parent = ig.create_carousel(&["11".into(), "12".into(), "13".into()], "Hi", &fields);
    assert_eq!(
        decode_form(&parent.body().unwrap_or_default()),
        pairs(&[
            ("media_type", "CAROUSEL"),
            ("children", "11,12,13"),
            ("caption", "Hi"),
            ("collaborators", r#"["maker.one","maker_two"]"#),
            ("location_id", "110843418940484"),
            ("is_ai_generated", "true"),
        ])
    );
    // Nothing but what is set: no empty collaborators, place or label.
    let plain = ig.create_carousel(&["11".into(), "12".into()], "Hi", &PostFields::default());
    assert_eq!(
        plain.body().unwrap_or_default(),
        "media_type=CAROUSEL&children=11%2C12&caption=Hi"
    );
    check(
        ig.post_comment("17900000000000001", "Menu in bio & more"),
        (
            "POST",
            "https://graph.instagram.com/v25.0/17900000000000001/comments",
            Some("message=Menu+in+bio+%26+more"),
        ),
    );
    check(
        ig.comments("17900000000000001"),
        (
            "GET",
            "https://graph.instagram.com/v25.0/17900000000000001/comments?fields=id,text,username&limit=100",
            None,
        ),
    );
}
