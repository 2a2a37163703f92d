//! CPU time the Worker spends on one vision request, the same code the describe route runs:
//! `cargo run --release -p generation --example vision_cpu`. Ten fitted photos of 320 KB (the
//! size a 12 Mpx photo fits to) become data URLs in one Chat Completions body, serialised;
//! repeated five times, the median is printed. The model's answer is network wait, not CPU.

use std::time::Instant;

use generation::openai::vision_request_body;
use generation::vision::data_url;
use generation::{ChatMessage, ChatPrompt, Role};
use serde_json::json;

fn photo(seed: u32) -> Vec<u8> {
    // Compressed JPEG data looks random; base64 costs the same on any bytes.
    let mut state = seed | 1;
    (0..320 * 1024)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as u8
        })
        .collect()
}

fn main() {
    let photos: Vec<Vec<u8>> = (1..=10).map(photo).collect();
    let prompt = ChatPrompt {
        messages: vec![ChatMessage {
            role: Role::User,
            content: "Write a caption for these photos.".into(),
        }],
        output_schema: json!({ "type": "object" }),
    };
    let mut times: Vec<f64> = (0..5)
        .map(|_| {
            let started = Instant::now();
            let urls: Vec<String> = photos.iter().map(|p| data_url(p)).collect();
            let body = vision_request_body("a-vision-model", &prompt, &urls, true).to_string();
            std::hint::black_box(body);
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    println!(
        "vision request for 10 photos of 320 KB: median {:.1} ms, min {:.1} ms",
        times[2], times[0]
    );
}
