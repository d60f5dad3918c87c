//! OpenAI-compatible streaming (`/v1/completions`, `/v1/chat/completions`), measured the way
//! `vllm bench serve` measures it: TTFT is the first chunk that carries `choices`, E2EL the whole
//! request, and TPOT = (E2EL - TTFT) / (output tokens - 1). Output tokens come from the `usage`
//! the server sends (`stream_options.include_usage`); when none arrives they are counted from
//! chunks and the result says so.
//!
//! A server may group tokens into chunks (Ray Serve LLM sends what it has every 50 ms by
//! default), so the gap between chunks is not an inter-token latency. loadgen asks for token
//! counts on every chunk (`continuous_usage_stats`, which vLLM serves) and spreads each chunk's
//! gap over its tokens (see [`super::Probe::tokens_at`]): ITL is per token, the chunk gaps are
//! the level's event gaps. A stream that is malformed, ends early, or (with `ignore_eos`) brings
//! another number of tokens than asked is a `stream` error.
//!
//! Prompts are random and of an exact input length: token-id arrays for `/v1/completions` (which
//! vLLM accepts), or text for chat, where the length in tokens depends on the tokenizer and the
//! server's `usage` tells the real count. A pool of prompts is serialized once, up front.

use std::fmt;

use bytes::Bytes;
use http::Method;
use http::header::{ACCEPT, HeaderValue};
use http_body_util::BodyExt;
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use serde::Deserialize;

use super::endpoint::{Builder, HttpTarget, closing, over_endpoint};
use super::sse::read_stream;
use super::{Failure, Probe, Workload};
use crate::{Error, ErrorClass, Result};

/// Number of distinct prompts serialized up front and used in turn.
const PROMPT_POOL: usize = 256;

/// Which API the URL serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Api {
    /// `/v1/completions`: `prompt`, chunks carry `choices[0].text`.
    Completions,
    /// `/v1/chat/completions`: `messages`, chunks carry `choices[0].delta.content`.
    Chat,
}

/// The OpenAI workload's own options.
#[derive(Debug, Clone)]
pub struct OpenAiOptions {
    model: Option<String>,
    input_len: u32,
    output_len: u32,
    ignore_eos: bool,
    token_ids: bool,
    seed: u64,
    api: Option<Api>,
    continuous_usage: bool,
    max_event_bytes: usize,
}

/// Builds an [`OpenAiWorkload`].
pub type OpenAiWorkloadBuilder = Builder<OpenAiOptions>;

impl Builder<OpenAiOptions> {
    /// The model name sent in each request (required).
    pub fn model(mut self, model: &str) -> Self {
        self.opts.model = Some(model.to_owned());
        self
    }

    /// Prompt length in tokens (default 512).
    pub fn input_len(mut self, n: u32) -> Self {
        self.opts.input_len = n;
        self
    }

    /// `max_tokens` (default 128).
    pub fn output_len(mut self, n: u32) -> Self {
        self.opts.output_len = n;
        self
    }

    /// Send `ignore_eos: true` so that every request generates `max_tokens` (default: yes).
    pub fn ignore_eos(mut self, yes: bool) -> Self {
        self.opts.ignore_eos = yes;
        self
    }

    /// Completions only: send prompts as token-id arrays (default) or as text.
    pub fn token_ids(mut self, yes: bool) -> Self {
        self.opts.token_ids = yes;
        self
    }

    /// Seed of the random prompts.
    pub fn seed(mut self, seed: u64) -> Self {
        self.opts.seed = seed;
        self
    }

    /// The API the URL serves (default: [`Api::Chat`] when the path ends in
    /// `/chat/completions`, else [`Api::Completions`]).
    pub fn api(mut self, api: Api) -> Self {
        self.opts.api = Some(api);
        self
    }

    /// Ask for token counts on every chunk (`stream_options.continuous_usage_stats`, which vLLM
    /// serves), so inter-token latency is per token even when chunks carry several (default: yes).
    pub fn continuous_usage(mut self, yes: bool) -> Self {
        self.opts.continuous_usage = yes;
        self
    }

    /// Longest SSE line or event accepted (default 1 MiB); a longer one is a `stream` error and
    /// drops the connection.
    pub fn max_event_bytes(mut self, max: usize) -> Self {
        self.opts.max_event_bytes = max;
        self
    }

    /// Checks the settings and builds the workload with its pool of prompts.
    pub fn build(self) -> Result<OpenAiWorkload> {
        let (endpoint, o) = self.endpoint()?;
        let model = o.model.clone().ok_or_else(|| Error::config("the model name is required"))?;
        if o.input_len == 0 || o.input_len > 1_000_000 {
            return Err(Error::config(format!("input length {} must be 1..=1000000 tokens", o.input_len)));
        }
        if o.output_len == 0 || o.output_len > 1_000_000 {
            return Err(Error::config(format!("output length {} must be 1..=1000000 tokens", o.output_len)));
        }
        if o.max_event_bytes == 0 {
            return Err(Error::config("the event cap must be at least one byte"));
        }
        let path = endpoint.path_and_query();
        let path = path.split('?').next().unwrap_or_default();
        let api =
            o.api.unwrap_or(if path.ends_with("/chat/completions") { Api::Chat } else { Api::Completions });
        let mut rng = SmallRng::seed_from_u64(o.seed);
        let prompts = (0..PROMPT_POOL)
            .map(|_| {
                let prompt = if api == Api::Completions && o.token_ids {
                    // Ids from a range every common vocabulary has, away from special tokens.
                    let ids: Vec<u32> = (0..o.input_len).map(|_| rng.random_range(1000..30000)).collect();
                    serde_json::json!(ids)
                } else {
                    // Short common words, about one token each for most tokenizers.
                    const WORDS: [&str; 16] = [
                        "time", "year", "people", "way", "day", "man", "thing", "woman", "life", "child",
                        "world", "school", "state", "family", "student", "group",
                    ];
                    let words: Vec<&str> =
                        (0..o.input_len).map(|_| WORDS[rng.random_range(0..WORDS.len())]).collect();
                    serde_json::json!(words.join(" "))
                };
                let mut body = serde_json::json!({
                    "model": model,
                    "max_tokens": o.output_len,
                    "stream": true,
                    "stream_options": if o.continuous_usage {
                        serde_json::json!({"include_usage": true, "continuous_usage_stats": true})
                    } else {
                        serde_json::json!({"include_usage": true})
                    },
                    "temperature": 0.0,
                    "ignore_eos": o.ignore_eos,
                });
                match api {
                    Api::Completions => body["prompt"] = prompt,
                    Api::Chat => body["messages"] = serde_json::json!([{"role": "user", "content": prompt}]),
                }
                serde_json::to_vec(&body).map(Bytes::from)
            })
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::config(format!("encoding prompts: {e}")))?;
        Ok(OpenAiWorkload { endpoint, api, model, opts: o, prompts })
    }
}

/// Streaming generation requests against an OpenAI-compatible server.
pub struct OpenAiWorkload {
    endpoint: HttpTarget,
    api: Api,
    model: String,
    opts: OpenAiOptions,
    prompts: Vec<Bytes>,
}

impl fmt::Debug for OpenAiWorkload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiWorkload")
            .field("endpoint", &self.endpoint)
            .field("api", &self.api)
            .field("model", &self.model)
            .field("input_len", &self.opts.input_len)
            .field("output_len", &self.opts.output_len)
            .finish_non_exhaustive()
    }
}

impl OpenAiWorkload {
    /// Starts building a workload for the full URL of the endpoint, for example
    /// `http://127.0.0.1:8000/v1/completions`.
    pub fn builder(url: &str) -> Result<OpenAiWorkloadBuilder> {
        Builder::new(
            url,
            Method::POST,
            OpenAiOptions {
                model: None,
                input_len: 512,
                output_len: 128,
                ignore_eos: true,
                token_ids: true,
                seed: 0,
                api: None,
                continuous_usage: true,
                max_event_bytes: crate::spec::DEFAULT_MAX_BYTES,
            },
        )
    }

    /// Which API the URL serves.
    pub fn api(&self) -> Api {
        self.api
    }

    /// The model requests name.
    pub fn model(&self) -> &str {
        &self.model
    }
}

#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Vec<serde::de::IgnoredAny>,
    #[serde(default)]
    usage: Option<Usage>,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

#[derive(Deserialize, Clone, Copy)]
struct Usage {
    #[serde(default)]
    prompt_tokens: u32,
    #[serde(default)]
    completion_tokens: u32,
}

impl Workload for OpenAiWorkload {
    over_endpoint!("openai");

    async fn call(&self, conn: &mut Self::Conn, seq: u64, probe: &mut Probe) -> Result<(), Failure> {
        let body = self.prompts[seq as usize % self.prompts.len()].clone();
        let mut req = self.endpoint.request(body, Some("application/json"));
        req.headers_mut().insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
        let (resp, mut driver) = conn.send(req).await?;
        probe.first_byte();
        let status = resp.status();
        let fail = {
            let closing = closing(&resp);
            move |f: Failure| if closing { Failure { conn_broken: true, ..f } } else { f }
        };
        if !status.is_success() {
            let mut body = resp.into_body();
            while let Some(Ok(_)) = driver.drive(body.frame()).await? {}
            return Err(fail(Failure::status(status.as_u16(), format!("HTTP {status}"))));
        }
        // Only chunks with choices carry tokens (they are marked as events); a chunk must be
        // parsed to know, so the reader hands every data line here first. With per-chunk usage
        // (`continuous_usage_stats`) the growth of `completion_tokens` says how many tokens each
        // chunk carries; without it each chunk counts as one.
        let asked = self.opts.output_len;
        let mut usage: Option<Usage> = None;
        let mut bad: Option<String> = None;
        let mut chunks_with_choices = 0u32;
        let mut counted = 0u32;
        let mut marks: Vec<(std::time::Instant, u32)> = Vec::new();
        let limit = self.opts.max_event_bytes;
        let tally = read_stream(&mut driver, resp.into_body(), limit, &mut Probe::detached(), &mut |data| {
            match serde_json::from_slice::<Chunk>(data) {
                Ok(c) => {
                    if let Some(e) = c.error {
                        bad.get_or_insert_with(|| format!("server error in stream: {e}"));
                    }
                    if let Some(u) = c.usage
                        && u.completion_tokens > asked
                    {
                        bad.get_or_insert_with(|| {
                            format!(
                                "the server reports {} tokens, more than max_tokens {asked}",
                                u.completion_tokens
                            )
                        });
                    }
                    if !c.choices.is_empty() {
                        chunks_with_choices += 1;
                        let tokens = match c.usage {
                            Some(u) => {
                                let total = u.completion_tokens.min(asked);
                                let new = total.saturating_sub(counted);
                                counted = counted.max(total);
                                new
                            }
                            None => 1,
                        };
                        marks.push((std::time::Instant::now(), tokens));
                    }
                    if c.usage.is_some() {
                        usage = c.usage;
                    }
                }
                Err(e) => {
                    bad.get_or_insert_with(|| format!("malformed chunk: {e}"));
                }
            }
        })
        .await?;
        // Replay the token arrivals on the probe, in order, with their own timestamps.
        for (t, tokens) in marks {
            probe.tokens_at(t, tokens);
        }
        if let Some(why) = bad {
            return Err(fail(Failure::new(ErrorClass::Stream, why)));
        }
        if !tally.done {
            return Err(fail(Failure::new(
                ErrorClass::Stream,
                format!("stream ended after {chunks_with_choices} chunks without [DONE]"),
            )));
        }
        if chunks_with_choices == 0 {
            return Err(fail(Failure::new(ErrorClass::Stream, "stream carried no tokens")));
        }
        if self.opts.ignore_eos
            && let Some(u) = usage
            && u.completion_tokens != asked
        {
            return Err(fail(Failure::new(
                ErrorClass::Stream,
                format!(
                    "the server generated {} tokens, {asked} were asked for (ignore_eos)",
                    u.completion_tokens
                ),
            )));
        }
        match usage {
            Some(u) => probe.tokens(u.prompt_tokens, u.completion_tokens, true),
            None => probe.tokens(self.opts.input_len, chunks_with_choices, false),
        }
        Ok(())
    }
}
