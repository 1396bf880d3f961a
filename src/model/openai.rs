//! A served model as the judge: an OpenAI-compatible completions endpoint
//! (llama.cpp's `llama-server`, vLLM, and others that speak the protocol).
//!
//! `--model openai:http://HOST:PORT/v1[#MODEL]` sends the judges' prompts,
//! rendered exactly as for an in-process model, to `POST /v1/completions`
//! with `max_tokens: 1` and `logprobs: K`, and reads the next token's top-K
//! log-probabilities: no generation, no free text. The server tokenizes the
//! text (special tokens included) with the model's own tokenizer, and its
//! prefix cache takes the place of rca's KV reuse.
//!
//! What leaves the process: the prompt text, to the address given and no
//! other (no proxy from the environment, no redirects). Plain HTTP only: a
//! server on another machine belongs behind a tunnel or on a trusted
//! network.
//!
//! Failures are one line each and exit with code 7 (`exit_code::SERVER`):
//! unreachable or timed out after the retries, no model of that name, no
//! log-probabilities in the reply, a prompt longer than the server's
//! context, or any other refusal.

use std::io::Read as _;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{json, Value};

/// The `--model` prefix that names a served model.
pub const SCHEME: &str = "openai:";

/// How many of the most likely next tokens the server is asked for. The
/// judges' answers (Yes/No, the labels A–T) are looked up among them; 20 is
/// what vLLM allows by default (`--max-logprobs`).
pub const TOP_LOGPROBS: usize = 20;

/// Retries after a failed request (connection refused or reset, timeout,
/// HTTP 429 or 5xx), with backoff 0.5 s, 1 s, 2 s.
const RETRIES: u32 = 3;

/// Settings of the connection (`--concurrency`, `--request-timeout`,
/// `--chat-template`).
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Limit of one request, connection included.
    pub timeout: Duration,
    /// A Jinja chat template, or a `tokenizer_config.json` that holds one,
    /// for servers that do not publish theirs (llama.cpp's does, at /props).
    pub chat_template: Option<std::path::PathBuf>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            concurrency: 4,
            timeout: Duration::from_secs(120),
            chat_template: None,
        }
    }
}

/// What can go wrong talking to the server; each displays as one line.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("{0}")]
    Spec(String),
    #[error("model server {url}: {message}")]
    Server { url: String, message: String },
}

/// A served model, resolved and checked.
pub struct Server {
    agent: ureq::Agent,
    /// `http://HOST:PORT/v1`, without a trailing slash.
    base: String,
    model: String,
    chat_template: String,
    options: ServerOptions,
    /// Whether the server counts tokens at `/tokenize` (llama.cpp's and
    /// vLLM's do); found at connection.
    tokenizes: bool,
}

/// The parts of `openai:http://HOST:PORT/v1#MODEL`.
pub fn parse_spec(spec: &str) -> Result<(String, Option<String>), ServerError> {
    let bad = |why: &str| {
        ServerError::Spec(format!(
            "--model {spec}: {why} (expected openai:http://HOST:PORT/v1 or openai:http://HOST:PORT/v1#MODEL)"
        ))
    };
    let rest = spec
        .strip_prefix(SCHEME)
        .ok_or_else(|| bad("not an openai: model"))?;
    let (url, model) = match rest.split_once('#') {
        Some((url, model)) if !model.is_empty() => (url, Some(model.to_string())),
        Some(_) => return Err(bad("empty model name after #")),
        None => (rest, None),
    };
    if url.starts_with("https://") {
        return Err(bad(
            "https is not supported; reach the server over plain HTTP on a trusted network or through a tunnel",
        ));
    }
    let host = url
        .strip_prefix("http://")
        .ok_or_else(|| bad("the address must start with http://"))?;
    if host.is_empty() || host.starts_with('/') || url.contains(char::is_whitespace) {
        return Err(bad("no host"));
    }
    Ok((url.trim_end_matches('/').to_string(), model))
}

impl Server {
    /// Connects: finds the model (`#MODEL`, else the only one served) and
    /// the chat template, so that a wrong address or name fails before any
    /// prompt is sent.
    pub fn connect(spec: &str, options: ServerOptions) -> Result<Server, ServerError> {
        let (base, wanted) = parse_spec(spec)?;
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(options.timeout))
            .http_status_as_error(false)
            .proxy(None)
            .max_redirects(0)
            .build();
        let mut server = Server {
            agent: config.into(),
            base,
            model: String::new(),
            chat_template: String::new(),
            options,
            tokenizes: false,
        };
        let models = server.get("/models")?;
        let served: Vec<String> = models["data"]
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(|m| m["id"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        server.model = match wanted {
            Some(name) if served.contains(&name) => name,
            Some(name) => {
                return Err(server.fail(format!(
                    "it has no model \"{name}\" (it serves: {})",
                    list_or_none(&served)
                )))
            }
            None if served.len() == 1 => served[0].clone(),
            None => {
                return Err(server.fail(format!(
                    "name the model with #MODEL after the address (it serves: {})",
                    list_or_none(&served)
                )))
            }
        };
        server.chat_template = match &server.options.chat_template {
            Some(file) => read_template(file)?,
            None => server.published_template()?,
        };
        server.tokenizes = server.tokens_in("Yes").is_some();
        Ok(server)
    }

    /// How many tokens the served model's tokenizer makes of `text`, special
    /// tokens not added (llama.cpp's and vLLM's `/tokenize`, beside `/v1`);
    /// `None` where the server has no such endpoint.
    pub fn count_tokens(&self, text: &str) -> Option<usize> {
        self.tokenizes.then(|| self.tokens_in(text)).flatten()
    }

    fn tokens_in(&self, text: &str) -> Option<usize> {
        let root = self.base.strip_suffix("/v1").unwrap_or(&self.base);
        // llama.cpp reads `content` and `add_special`, vLLM `prompt` and
        // `add_special_tokens`; each ignores the other's.
        let body = json!({
            "model": self.model,
            "content": text,
            "add_special": false,
            "prompt": text,
            "add_special_tokens": false,
        });
        match self.request(&format!("{root}/tokenize"), Some(&body)) {
            Ok((200, reply)) => reply["tokens"].as_array().map(Vec::len),
            _ => None,
        }
    }

    /// The chat template llama.cpp's server publishes at `/props` (beside
    /// `/v1`); servers without it need `--chat-template`.
    fn published_template(&self) -> Result<String, ServerError> {
        let root = self.base.strip_suffix("/v1").unwrap_or(&self.base);
        let props = self
            .request(&format!("{root}/props"), None)
            .ok()
            .and_then(|(status, body)| (status == 200).then_some(body));
        props
            .as_ref()
            .and_then(|p| p["chat_template"].as_str())
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .ok_or_else(|| {
                self.fail(
                    "it does not publish its chat template (llama.cpp's server does, at /props): pass --chat-template with the model's template or its tokenizer_config.json".into(),
                )
            })
    }

    /// The served model's name.
    pub fn model(&self) -> &str {
        &self.model
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn chat_template(&self) -> &str {
        &self.chat_template
    }

    pub fn concurrency(&self) -> usize {
        self.options.concurrency
    }

    /// The next token's log-probabilities of `candidates` (token texts)
    /// after `prompt`. A candidate the server does not list among its top
    /// [`TOP_LOGPROBS`] gets the lowest listed log-probability: an upper
    /// bound of its own, which is all the reply says of it.
    pub fn next_token_logprobs(
        &self,
        prompt: &str,
        candidates: &[String],
    ) -> Result<Vec<f32>, ServerError> {
        let body = json!({
            "model": self.model,
            "prompt": prompt,
            "max_tokens": 1,
            "temperature": 0.0,
            "logprobs": TOP_LOGPROBS,
            "stream": false,
        });
        let reply = self.post("/completions", &body)?;
        let top = top_logprobs(&reply).ok_or_else(|| {
            self.fail(
                "the reply has no log-probabilities: the server must return top logprobs on /v1/completions".into(),
            )
        })?;
        let floor = top.iter().map(|(_, lp)| *lp).fold(f32::INFINITY, f32::min);
        Ok(candidates
            .iter()
            .map(|c| {
                top.iter()
                    .filter(|(token, _)| token == c)
                    .map(|(_, lp)| *lp)
                    .fold(None, |best: Option<f32>, lp| {
                        Some(best.map_or(lp, |b| b.max(lp)))
                    })
                    .unwrap_or(floor)
            })
            .collect())
    }

    /// [`Server::next_token_logprobs`] for many prompts, `--concurrency` at
    /// a time, in the order given; `done` is called (on this thread) as each
    /// one finishes. The first error stops the rest.
    pub fn next_token_logprobs_many(
        &self,
        prompts: &[String],
        candidates: &[String],
        done: &mut dyn FnMut(),
    ) -> Result<Vec<Vec<f32>>, ServerError> {
        let next = AtomicUsize::new(0);
        let failed = AtomicBool::new(false);
        let mut results: Vec<Option<Vec<f32>>> = vec![None; prompts.len()];
        let workers = self.options.concurrency.clamp(1, prompts.len().max(1));
        std::thread::scope(|scope| -> Result<(), ServerError> {
            let (tx, rx) = mpsc::channel();
            for _ in 0..workers {
                let tx = tx.clone();
                let (next, failed) = (&next, &failed);
                scope.spawn(move || loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= prompts.len() || failed.load(Ordering::Relaxed) {
                        break;
                    }
                    let result = self.next_token_logprobs(&prompts[i], candidates);
                    if result.is_err() {
                        failed.store(true, Ordering::Relaxed);
                    }
                    if tx.send((i, result)).is_err() {
                        break;
                    }
                });
            }
            drop(tx);
            let mut first_error = None;
            for (i, result) in rx {
                match result {
                    Ok(logprobs) => {
                        results[i] = Some(logprobs);
                        done();
                    }
                    Err(err) => {
                        first_error.get_or_insert(err);
                    }
                }
            }
            first_error.map_or(Ok(()), Err)
        })?;
        Ok(results.into_iter().map(Option::unwrap_or_default).collect())
    }

    fn fail(&self, message: String) -> ServerError {
        ServerError::Server {
            url: self.base.clone(),
            message,
        }
    }

    fn get(&self, path: &str) -> Result<Value, ServerError> {
        self.checked(path, None)
    }

    fn post(&self, path: &str, body: &Value) -> Result<Value, ServerError> {
        self.checked(path, Some(body))
    }

    /// A request under `/v1` with retries; a reply other than 200 is an
    /// error that quotes the server.
    fn checked(&self, path: &str, body: Option<&Value>) -> Result<Value, ServerError> {
        let url = format!("{}{path}", self.base);
        let mut attempt = 0;
        loop {
            let outcome = self.request(&url, body);
            let retry = match &outcome {
                Err(_) => true,
                Ok((status, _)) => *status == 429 || *status >= 500,
            };
            if retry && attempt < RETRIES {
                std::thread::sleep(Duration::from_millis(500 << attempt));
                attempt += 1;
                continue;
            }
            return match outcome {
                Err(message) => {
                    Err(self.fail(format!("{message} (after {} attempts)", attempt + 1)))
                }
                Ok((200, value)) => Ok(value),
                Ok((status, value)) => Err(self.fail(refusal(path, body, status, &value))),
            };
        }
    }

    /// One HTTP exchange: the status and the JSON body (`Null` when the
    /// body is not JSON), or why there was no reply.
    fn request(&self, url: &str, body: Option<&Value>) -> Result<(u16, Value), String> {
        let response = match body {
            Some(body) => self
                .agent
                .post(url)
                .header("Content-Type", "application/json")
                .send(body.to_string()),
            None => self.agent.get(url).call(),
        };
        let mut response = response.map_err(|err| transport(&err))?;
        let status = response.status().as_u16();
        let mut text = String::new();
        response
            .body_mut()
            .as_reader()
            .read_to_string(&mut text)
            .map_err(|err| format!("reading the reply: {err}"))?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }
}

/// A transport failure in words a person on call can act on.
fn transport(err: &ureq::Error) -> String {
    match err {
        ureq::Error::ConnectionFailed | ureq::Error::Io(_) => {
            format!("cannot connect ({err}): is the server running at this address?")
        }
        ureq::Error::HostNotFound => "host not found".to_string(),
        ureq::Error::Timeout(_) => "no reply within the request timeout (--request-timeout)".into(),
        other => crate::model::one_line(&other.to_string()),
    }
}

/// Why the server refused a request, from its status and error body.
fn refusal(path: &str, body: Option<&Value>, status: u16, reply: &Value) -> String {
    let said = reply["error"]["message"]
        .as_str()
        .or_else(|| reply["error"].as_str())
        .or_else(|| reply["message"].as_str())
        .or_else(|| reply["detail"].as_str())
        .map(crate::model::one_line)
        .unwrap_or_default();
    let kind = reply["error"]["type"].as_str().unwrap_or("");
    let lower = said.to_lowercase();
    if kind == "exceed_context_size_error"
        || lower.contains("context length")
        || lower.contains("context size")
        || lower.contains("maximum context")
    {
        return format!("the prompt is longer than the model's context on the server: {said}");
    }
    if status == 404 && path == "/models" {
        return "no OpenAI-compatible API answers there (GET /models: HTTP 404); give the API's base, like http://HOST:PORT/v1".into();
    }
    if status == 404 && lower.contains("model") {
        let model = body.and_then(|b| b["model"].as_str()).unwrap_or("");
        return format!("it has no model \"{model}\": {said}");
    }
    if lower.contains("logprobs") {
        return format!("it refuses log-probabilities: {said}");
    }
    if said.is_empty() {
        format!("{path} answered HTTP {status}")
    } else {
        format!("{path} answered HTTP {status}: {said}")
    }
}

/// The first generated token's top log-probabilities, as (token text,
/// log-probability), from either reply format: llama.cpp's
/// (`logprobs.content[0].top_logprobs[]` of `{token, logprob}`) or
/// OpenAI's legacy completions (`logprobs.top_logprobs[0]` as a map).
fn top_logprobs(reply: &Value) -> Option<Vec<(String, f32)>> {
    let logprobs = &reply["choices"][0]["logprobs"];
    let pairs: Vec<(String, f32)> =
        if let Some(list) = logprobs["content"][0]["top_logprobs"].as_array() {
            list.iter()
                .filter_map(|e| {
                    Some((
                        e["token"].as_str()?.to_string(),
                        e["logprob"].as_f64()? as f32,
                    ))
                })
                .collect()
        } else if let Some(map) = logprobs["top_logprobs"][0].as_object() {
            map.iter()
                .filter_map(|(token, lp)| Some((token.clone(), lp.as_f64()? as f32)))
                .collect()
        } else {
            return None;
        };
    (!pairs.is_empty()).then_some(pairs)
}

fn list_or_none(names: &[String]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

/// A chat template from a file: the template itself, or the
/// `chat_template` of a Hugging Face `tokenizer_config.json`.
fn read_template(path: &Path) -> Result<String, ServerError> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| ServerError::Spec(format!("--chat-template {}: {err}", path.display())))?;
    if let Ok(config) = serde_json::from_str::<Value>(&text) {
        return config["chat_template"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| {
                ServerError::Spec(format!(
                    "--chat-template {}: a JSON file without a chat_template string",
                    path.display()
                ))
            });
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_or_say_why_not() {
        assert_eq!(
            parse_spec("openai:http://127.0.0.1:8080/v1").unwrap(),
            ("http://127.0.0.1:8080/v1".to_string(), None)
        );
        assert_eq!(
            parse_spec("openai:http://gpu-box:8000/v1/#meta-llama/Llama-3.1-8B-Instruct").unwrap(),
            (
                "http://gpu-box:8000/v1".to_string(),
                Some("meta-llama/Llama-3.1-8B-Instruct".to_string())
            )
        );
        for bad in [
            "openai:https://host/v1",
            "openai:host:8080/v1",
            "openai:http://",
            "openai:http://host/v1#",
        ] {
            let err = parse_spec(bad).unwrap_err().to_string();
            assert!(err.starts_with(&format!("--model {bad}:")), "{err}");
            assert!(!err.contains('\n'));
        }
    }

    #[test]
    fn both_reply_formats_are_read() {
        let llama_cpp = json!({"choices": [{"logprobs": {"content": [{"token": "Yes", "logprob": -0.1,
            "top_logprobs": [{"token": "Yes", "logprob": -0.1}, {"token": "No", "logprob": -2.5}]}]}}]});
        assert_eq!(
            top_logprobs(&llama_cpp).unwrap(),
            vec![("Yes".to_string(), -0.1), ("No".to_string(), -2.5)]
        );
        let legacy = json!({"choices": [{"logprobs": {"tokens": ["No"], "token_logprobs": [-0.3],
            "top_logprobs": [{"No": -0.3, "Yes": -1.4}]}}]});
        let mut pairs = top_logprobs(&legacy).unwrap();
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            pairs,
            vec![("No".to_string(), -0.3), ("Yes".to_string(), -1.4)]
        );
        assert!(top_logprobs(&json!({"choices": [{"text": "Yes", "logprobs": null}]})).is_none());
    }

    #[test]
    fn a_chat_template_is_read_from_a_template_or_a_tokenizer_config() {
        let dir = tempfile::tempdir().unwrap();
        let jinja = dir.path().join("template.jinja");
        std::fs::write(&jinja, "{% for m in messages %}<|im_start|>{% endfor %}").unwrap();
        assert!(read_template(&jinja).unwrap().contains("<|im_start|>"));
        let config = dir.path().join("tokenizer_config.json");
        std::fs::write(
            &config,
            r#"{"chat_template": "<|start_header_id|>{{ x }}"}"#,
        )
        .unwrap();
        assert_eq!(
            read_template(&config).unwrap(),
            "<|start_header_id|>{{ x }}"
        );
        std::fs::write(&config, r#"{"bos_token": "<s>"}"#).unwrap();
        assert!(read_template(&config)
            .unwrap_err()
            .to_string()
            .contains("without a chat_template"));
        assert!(read_template(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn refusals_are_named() {
        let context = json!({"error": {"code": 400, "type": "exceed_context_size_error",
            "message": "request (9000 tokens) exceeds the available context size (8192 tokens)"}});
        assert!(refusal("/completions", None, 400, &context).starts_with("the prompt is longer"));
        let vllm = json!({"object": "error", "message": "This model's maximum context length is 4096 tokens. However, you requested 5000 tokens."});
        assert!(refusal("/completions", None, 400, &vllm).starts_with("the prompt is longer"));
        let model = json!({"error": {"message": "The model `x` does not exist."}});
        let body = json!({"model": "x"});
        assert!(
            refusal("/completions", Some(&body), 404, &model).starts_with("it has no model \"x\"")
        );
        assert_eq!(
            refusal("/completions", None, 503, &Value::Null),
            "/completions answered HTTP 503"
        );
        assert!(refusal("/models", None, 404, &Value::Null).contains("like http://HOST:PORT/v1"));
    }
}
