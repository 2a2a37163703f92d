//! The Workers AI binding: the input the shell passes to `env.ai(..).run(model, input)` and
//! the reading of its output.

use serde_json::{Value, json};

use crate::chain::ChatPrompt;
use crate::model::ModelError;
use crate::request::kind;

/// Workers AI's default of 256 tokens cuts a long caption short.
pub const MAX_TOKENS: u32 = 1_024;

/// The input for a text-generation model in JSON mode.
pub fn input(prompt: &ChatPrompt) -> Value {
    json!({
        "messages": prompt.messages,
        "response_format": { "type": "json_schema", "json_schema": prompt.output_schema },
        "max_tokens": MAX_TOKENS,
    })
}

/// Vision models that take one photo, in an `image` field beside text-only messages; the
/// others take the photos as `image_url` content parts, as Chat Completions does.
pub const ONE_PHOTO_MODELS: [&str; 1] = ["@cf/meta/llama-3.2-11b-vision-instruct"];

/// Why a vision model cannot take the photos of a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{model} takes one photo a request and {given} were given; set WORKERS_AI_VISION_MODEL to a model that takes several"
)]
pub struct TooManyPhotos {
    pub model: String,
    pub given: usize,
}

/// The input for a vision model in JSON mode, with the photos (`data:` URLs), or why the
/// model cannot take them.
pub fn vision_input(
    model: &str,
    prompt: &ChatPrompt,
    data_urls: &[String],
) -> Result<Value, TooManyPhotos> {
    let mut input = input(prompt);
    if ONE_PHOTO_MODELS.contains(&model) {
        let [photo] = data_urls else {
            return Err(TooManyPhotos {
                model: model.to_owned(),
                given: data_urls.len(),
            });
        };
        input["image"] = Value::String(photo.clone());
    } else {
        input["messages"] = crate::vision::messages_with_photos(&prompt.messages, data_urls);
    }
    Ok(input)
}

/// The answer text. In JSON mode the binding may hand back `response` already parsed, so an
/// object is turned back into text for the chain's parser.
pub fn parse_output(output: &Value) -> Result<String, ModelError> {
    let malformed = |reason: String| Err(ModelError::Malformed(reason));
    if !output.is_object() {
        return malformed(format!(
            "Workers AI output is {}, expected an object",
            kind(output)
        ));
    }
    match &output["response"] {
        Value::String(text) => Ok(text.clone()),
        object @ Value::Object(_) => Ok(object.to_string()),
        // Models served in the OpenAI format answer with `choices` instead.
        Value::Null => match &output["choices"][0]["message"]["content"] {
            Value::String(text) => Ok(text.clone()),
            _ => malformed("Workers AI output has no response".to_owned()),
        },
        other => malformed(format!(
            "Workers AI response is {}, expected a string or an object",
            kind(other)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::{ChatMessage, Role};

    #[test]
    fn input_carries_messages_schema_and_token_limit() {
        let prompt = ChatPrompt {
            messages: vec![ChatMessage {
                role: Role::Assistant,
                content: "{}".to_owned(),
            }],
            output_schema: json!({ "type": "object", "required": ["caption"] }),
        };
        assert_eq!(
            input(&prompt),
            json!({
                "messages": [{ "role": "assistant", "content": "{}" }],
                "response_format": {
                    "type": "json_schema",
                    "json_schema": { "type": "object", "required": ["caption"] },
                },
                "max_tokens": 1024,
            })
        );
    }

    #[test]
    fn vision_input_by_model() {
        let prompt = ChatPrompt {
            messages: vec![ChatMessage {
                role: Role::User,
                content: "Describe".to_owned(),
            }],
            output_schema: json!({ "type": "object" }),
        };
        let one = vec!["data:image/jpeg;base64,AA==".to_owned()];
        let two = vec![one[0].clone(), "data:image/jpeg;base64,AQ==".to_owned()];
        let scout = vision_input("@cf/meta/llama-4-scout-17b-16e-instruct", &prompt, &two);
        let scout = scout.expect("a model that takes several photos");
        assert_eq!(
            scout["messages"][0]["content"][2]["image_url"]["url"],
            two[1]
        );
        assert_eq!(scout["max_tokens"], MAX_TOKENS);
        assert!(scout.get("image").is_none());
        let llama = vision_input(ONE_PHOTO_MODELS[0], &prompt, &one).expect("one photo");
        assert_eq!(llama["image"], one[0]);
        assert_eq!(llama["messages"][0]["content"], "Describe");
        let refused = vision_input(ONE_PHOTO_MODELS[0], &prompt, &two);
        assert!(
            refused.as_ref().is_err_and(|e| e
                .to_string()
                .contains("takes one photo a request and 2 were given")),
            "{refused:?}"
        );
    }

    fn check(output: Value, expect: Result<&str, &str>) {
        let expect = expect
            .map(str::to_owned)
            .map_err(|m| ModelError::Malformed(m.to_owned()));
        assert_eq!(parse_output(&output), expect, "{output}");
    }

    #[test]
    fn object_response_is_turned_back_into_text() {
        let object = json!({ "caption": "Hi", "hashtags": ["a"], "altText": "x" });
        let text = parse_output(&json!({ "response": object, "usage": {} }));
        let reparsed = text.as_deref().map(serde_json::from_str::<Value>);
        assert!(
            matches!(reparsed, Ok(Ok(ref value)) if *value == object),
            "{text:?}"
        );
    }

    #[test]
    fn outputs() {
        check(
            json!({ "response": "{\"caption\":\"Hi\"}" }),
            Ok("{\"caption\":\"Hi\"}"),
        );
        check(json!({ "response": {} }), Ok("{}"));
        check(
            json!({ "choices": [{ "message": { "content": "{}" } }] }),
            Ok("{}"),
        );
        check(
            json!({ "response": null, "tool_calls": [] }),
            Err("Workers AI output has no response"),
        );
        check(json!({}), Err("Workers AI output has no response"));
        check(
            json!({ "response": ["a"] }),
            Err("Workers AI response is an array, expected a string or an object"),
        );
        check(
            json!({ "response": 3 }),
            Err("Workers AI response is a number, expected a string or an object"),
        );
        check(
            json!("text"),
            Err("Workers AI output is a string, expected an object"),
        );
    }
}
