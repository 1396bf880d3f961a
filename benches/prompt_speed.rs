//! Prompt throughput of rca's model path against llama.cpp on the same GGUF,
//! what prefix reuse saves, and (with `--judge`) the pointwise judge
//! reading change cards.
//!
//! The acceptance bar for `src/model/` is prompt processing at no less than
//! 0.9× llama.cpp's `llama-bench` speed, same model, same thread count, same
//! prompt length, measured in one run. Both sides are sampled alternately
//! (ours once, llama-bench once, repeated) so that load from other processes
//! hits both alike, and medians are printed.
//!
//! ```text
//! cargo bench --bench prompt_speed -- [--threads N] [--runs N] [--model PATH]
//!     [--llama-bench PATH | --no-llama] [--quantized] [--no-reuse]
//!     [--default-malloc] [--device cpu|cuda[:N]] [--judge [--cards N]]
//! ```
//!
//! `--judge` times the pointwise judge reading the cards of `--cards`
//! (default 60) real changes, the newest of DPDK's dpdk-8 window (the
//! mirror in `$RCA_MIRRORS`), after the incident's facts; llama.cpp's
//! side is `llama-bench -p S -d P`: S tokens (a card's mean) after a
//! context of P (the facts), scaled to the same number of cards. Neither
//! side counts the facts prefix, which both compute once.
//!
//! With `--device cuda` (a build with `--features cuda`), llama.cpp is not
//! run unless `--llama-bench` names one.
//!
//! llama-bench comes from `scripts/llama-ref build` (its bin directory is
//! found with `scripts/llama-ref bindir`). Flash attention is off on the
//! llama.cpp side: rca's attention is the unfused kind too.

#![allow(clippy::print_stdout)] // a bench binary reports on stdout

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rca::model::{
    default_model_path, tune_allocator, DeviceChoice, LoadOptions, Model, WeightFormat,
};

const LABELS: [&str; 20] = [
    "A", "B", "C", "D", "E", "F", "G", "H", "I", "J", "K", "L", "M", "N", "O", "P", "Q", "R", "S",
    "T",
];

struct Args {
    threads: usize,
    runs: usize,
    model: PathBuf,
    llama_bench: Option<PathBuf>,
    quantized: bool,
    reuse: bool,
    tune_allocator: bool,
    device: DeviceChoice,
    /// Cards for the judge section; `None`: not run.
    judge_cards: Option<usize>,
}

fn parse_args() -> Args {
    let mut args = Args {
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        runs: 5,
        model: default_model_path()
            .unwrap_or_else(|| PathBuf::from("models/SmolLM2-135M-Instruct.Q4_1.gguf")),
        llama_bench: find_llama_bench(),
        quantized: false,
        reuse: true,
        tune_allocator: true,
        device: DeviceChoice::Cpu,
        judge_cards: None,
    };
    let mut llama_named = false;
    let mut no_llama = false;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--threads" => {
                args.threads = it.next().and_then(|v| v.parse().ok()).expect("--threads N")
            }
            "--runs" => args.runs = it.next().and_then(|v| v.parse().ok()).expect("--runs N"),
            "--model" => args.model = it.next().map(PathBuf::from).expect("--model PATH"),
            "--llama-bench" => {
                args.llama_bench = it.next().map(PathBuf::from);
                llama_named = true;
            }
            "--device" => {
                args.device = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--device cpu|cuda|cuda:N")
            }
            "--no-llama" => {
                args.llama_bench = None;
                no_llama = true;
            }
            "--judge" => args.judge_cards = Some(args.judge_cards.unwrap_or(60)),
            "--cards" => {
                args.judge_cards = Some(it.next().and_then(|v| v.parse().ok()).expect("--cards N"))
            }
            "--quantized" => args.quantized = true,
            "--no-reuse" => args.reuse = false,
            // To measure what `tune_allocator` buys.
            "--default-malloc" => args.tune_allocator = false,
            // `cargo bench` passes --bench; ignore it and anything unknown.
            _ => {}
        }
    }
    if args.device != DeviceChoice::Cpu && !llama_named {
        args.llama_bench = None;
        no_llama = true;
    }
    if args.llama_bench.is_none() && !no_llama {
        eprintln!("error: llama-bench is not built: run scripts/llama-ref build (just bench-model does), or pass --no-llama");
        std::process::exit(1);
    }
    args
}

fn find_llama_bench() -> Option<PathBuf> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/llama-ref");
    let out = Command::new(script).arg("bindir").output().ok()?;
    if !out.status.success() {
        return None;
    }
    let dir = String::from_utf8(out.stdout).ok()?;
    Some(Path::new(dir.trim()).join("llama-bench"))
}

/// One compact line per change, as the rank stage writes them.
fn change_line(label: &str, i: usize) -> String {
    const SUBJECTS: [&str; 10] = [
        "net/mlx5: fix Rx queue stall when the completion ring wraps under load",
        "checkout: bump grpc-go from 1.58.3 to 1.60.1 and regenerate stubs",
        "payments: retry idempotent captures on 503 with jittered backoff",
        "cache: shard the session LRU by tenant to cut lock contention",
        "build: enable LTO for the checkout service release profile",
        "db: add index on orders(customer_id, created_at) for the history page",
        "api: stream large cart responses instead of buffering them",
        "tls: rotate intermediate certificates for eu-west ingress",
        "scheduler: cap concurrent settlement jobs per region at 8",
        "observability: sample 10% of checkout traces instead of 1%",
    ];
    const PATHS: [&str; 10] = [
        "drivers/net/mlx5/mlx5_rxq.c, drivers/net/mlx5/mlx5_rx.h",
        "services/checkout/go.mod, services/checkout/go.sum, services/checkout/gen/cart.pb.go",
        "services/payments/capture.go, services/payments/retry/backoff.go",
        "libs/cache/lru.rs, libs/cache/shard.rs, libs/cache/tests/contention.rs",
        "services/checkout/Cargo.toml, .ci/release.yml",
        "db/migrations/20241126_orders_customer_idx.sql",
        "services/api/cart/handler.go, services/api/cart/stream.go",
        "infra/ingress/eu-west/certs.yaml",
        "services/settlement/scheduler.py, services/settlement/config/limits.toml",
        "libs/tracing/sampler.go, services/checkout/main.go",
    ];
    const AUTHORS: [&str; 6] = ["alice", "bob", "chen", "dana", "emeka", "farah"];
    format!(
        "{label}. {} | {}h | {} | {} | +{} -{}\n",
        SUBJECTS[i % SUBJECTS.len()],
        3 + (i * 7) % 70,
        AUTHORS[i % AUTHORS.len()],
        PATHS[(i * 3) % PATHS.len()],
        4 + (i * 37) % 400,
        1 + (i * 13) % 150,
    )
}

const INSTRUCTIONS: &str = "You are helping an on-call engineer find the change that caused an incident. \
You will see what is known about the incident and a list of recent changes, one per line: \
label, subject, age, author, files touched, lines added and removed. \
Pick the single change most likely to have caused the incident. \
Changes that touch the impacted service, its dependencies or its configuration are more likely culprits \
than changes to documentation, tests or unrelated services. \
Recent changes are more likely than old ones, and large changes more likely than small ones, \
but a one-line configuration change can take a service down. \
Dependency upgrades, retry and timeout settings, connection pools, caches, database indexes and \
feature flags are frequent causes of latency regressions. \
If several changes look alike, prefer the one whose files match the impacted area most closely. \
Answer with the letter of one change only.";

fn facts() -> String {
    "Incident: checkout p99 latency doubled\n\
     Opened: 2024-11-26 14:05 UTC\n\
     Impact: EU checkout requests time out after 2 s; error budget burn 14x; card captures delayed\n\
     Team paged: payments-core\n\
     Hints: services/checkout, services/payments\n"
        .to_string()
}

/// The ChatML prompt split into the part shared by every batch (the
/// instructions and the facts) and the batch's own part (its changes and the
/// answer prefix).
fn prompt_parts(model: &Model, changes: &[String]) -> (String, String) {
    let shared_user = format!("{}\nChanges:\n", facts());
    let full = model.chat_prompt(Some(INSTRUCTIONS), &format!("{shared_user}{{CHANGES}}"));
    let cut = full.find("{CHANGES}").unwrap();
    let mut rest = changes.concat();
    rest.push_str("\nWhich change most likely caused this incident? Answer with its letter.");
    let tail = &full[cut + "{CHANGES}".len()..];
    let suffix = format!("{rest}{tail}The change that most likely caused this incident is (");
    (full[..cut].to_string(), suffix)
}

/// At least `target` tokens (and within one change line of it): 20 labelled
/// changes, each extended with related changes ("also: ...") one line at a
/// time until the prompt is long enough. Real prompts range 865–2,251
/// tokens.
fn long_prompt(model: &Model, target: usize) -> Vec<u32> {
    let mut lines: Vec<String> = LABELS
        .iter()
        .enumerate()
        .map(|(i, label)| change_line(label, i))
        .collect();
    for extra in 0.. {
        let (shared, own) = prompt_parts(model, &lines);
        let ids = model.encode(&format!("{shared}{own}")).unwrap();
        if ids.len() >= target || extra > 400 {
            return ids;
        }
        let i = extra % lines.len();
        let also = change_line("", 20 + extra);
        lines[i].push_str(&format!("   also: {}", &also[2..]));
    }
    unreachable!()
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    let n = values.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// One llama-bench run: prompt processing of `tokens` tokens after a
/// context of `depth` (not timed), no generation.
fn llama_bench_once(
    bin: &Path,
    model: &Path,
    tokens: usize,
    depth: usize,
    threads: usize,
) -> Option<f64> {
    let mut command = Command::new(bin);
    if depth > 0 {
        command.args(["-d", &depth.to_string()]);
    }
    let out = command
        .args(["-m", model.to_str()?])
        .args(["-p", &tokens.to_string(), "-n", "0"])
        .args([
            "-t",
            &threads.to_string(),
            "-fa",
            "0",
            "-r",
            "1",
            "-o",
            "json",
        ])
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!(
            "llama-bench failed: {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        );
        return None;
    }
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    json.as_array()?.first()?.get("avg_ts")?.as_f64()
}

/// Minor page faults of this process so far (`/proc/self/stat`, field 10):
/// a load-independent view of what `tune_allocator` saves.
fn minor_faults() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The command name (field 2) is parenthesised and may hold spaces.
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    after_name
        .split_whitespace()
        .nth(7)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let value = f();
    (value, start.elapsed())
}

fn main() {
    let args = parse_args();
    if args.tune_allocator {
        tune_allocator();
    }
    let opts = LoadOptions {
        device: args.device,
        threads: Some(args.threads),
        tokenizer: None,
    };
    let (model, load_time) = timed(|| Model::load(&args.model, &opts).expect("model loads"));
    let info = model.info();
    println!(
        "model: {} ({}; {}; {} threads; malloc {}; loaded in {:.2} s)",
        info.path,
        info.device,
        info.weights,
        info.threads,
        if args.tune_allocator {
            "tuned"
        } else {
            "default"
        },
        load_time.as_secs_f64()
    );
    let labels: Vec<u32> = LABELS
        .iter()
        .map(|l| model.single_token(l).unwrap())
        .collect();

    let ids = long_prompt(&model, 2000);
    let n = ids.len();
    println!("prompt: {n} tokens, {} runs each, alternating", args.runs);

    // Warm-up: first-touch of weights and allocator pools.
    model.next_token_logprobs(None, &ids, &labels).unwrap();
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    let faults_before = minor_faults();
    for run in 0..args.runs {
        let (_, t) = timed(|| model.next_token_logprobs(None, &ids, &labels).unwrap());
        ours.push(n as f64 / t.as_secs_f64());
        if let Some(bin) = &args.llama_bench {
            // A comparison asked for and not made is a failure, not a skip
            // (a -march=native llama.cpp dies with SIGILL on CPUs that
            // report AMX inside a VM that does not enable it).
            let Some(ts) = llama_bench_once(bin, &args.model, n, 0, args.threads) else {
                eprintln!(
                    "error: {} did not run, so there is no comparison; rebuild it with scripts/llama-ref build, or pass --no-llama",
                    bin.display()
                );
                std::process::exit(1);
            };
            theirs.push(ts);
        }
        eprintln!(
            "  run {}: rca {:.1} tok/s{}",
            run + 1,
            ours.last().unwrap(),
            theirs
                .last()
                .map_or(String::new(), |t| format!(", llama.cpp {t:.1} tok/s"))
        );
    }
    let faults = (minor_faults() - faults_before) / args.runs.max(1) as u64;
    let rss = peak_rss_mb();
    let ours_median = median(&mut ours);
    println!(
        "rca        prompt: {ours_median:8.1} tok/s (median of {}), peak RSS {rss:.0} MB, {faults} minor page faults per prompt",
        args.runs
    );
    if !theirs.is_empty() {
        let theirs_median = median(&mut theirs);
        println!(
            "llama.cpp  prompt: {theirs_median:8.1} tok/s (median of {}, llama-bench -p {n} -n 0 -t {} -fa 0)",
            theirs.len(),
            args.threads
        );
        println!("ratio rca / llama.cpp: {:.2}", ours_median / theirs_median);
    } else {
        println!("llama.cpp: not run (build it with scripts/llama-ref build)");
    }

    if args.quantized {
        let q = Model::load_with_format(&args.model, &opts, Some(WeightFormat::Quantized)).unwrap();
        q.next_token_logprobs(None, &ids, &labels).unwrap();
        let mut speeds: Vec<f64> = (0..args.runs.min(3))
            .map(|_| {
                let (_, t) = timed(|| q.next_token_logprobs(None, &ids, &labels).unwrap());
                n as f64 / t.as_secs_f64()
            })
            .collect();
        println!(
            "rca, weights kept quantized ({}): {:.1} tok/s (median of {})",
            q.info().weights,
            median(&mut speeds),
            speeds.len()
        );
    }

    if args.reuse {
        prefix_reuse(&model, &labels);
    }
    if let Some(cards) = args.judge_cards {
        judge_speed(&args, model, cards);
    }
}

/// The pointwise judge reading `cards` real change cards (see the module
/// docs), alternating with llama-bench on the same token counts.
fn judge_speed(args: &Args, model: Model, cards: usize) {
    use rca::rank::pointwise::{prompt, Head, PointwiseJudge};
    let fail = |what: String| -> ! {
        eprintln!("error: --judge: {what}");
        std::process::exit(1)
    };
    let mirrors = std::env::var("RCA_MIRRORS").unwrap_or_else(|_| "../.mirror".into());
    let repo_path = Path::new(&mirrors).join("DPDK+dpdk/repo");
    let when = |t: &str| rca::when::parse(t, 0).expect("a fixed date");
    let (since, until) = (when("2021-05-11T21:33:24Z"), when("2021-07-20T21:33:24Z"));
    let repo =
        rca::history::open(&repo_path).unwrap_or_else(|e| fail(format!("{e} (set RCA_MIRRORS)")));
    let window = rca::history::start_commit(&repo, Some("refs/heads/main"), until)
        .and_then(|start| rca::history::window(&repo, start, since, until, None))
        .unwrap_or_else(|e| fail(e.to_string()));
    let commits: Vec<&rca::history::Commit> = window.commits.iter().take(cards).collect();
    if commits.len() < cards {
        fail(format!(
            "the window holds {} changes, not {cards}",
            commits.len()
        ));
    }
    let facts = rca::cases::Facts {
        title: "net/bnxt: fix null dereference in interrupt handler".into(),
        impact: Some(
            "Coverity reports that pointer \"cpr->cp_ring_struct\" may be dereferenced with null value."
                .into(),
        ),
        team_hints: Vec::new(),
        path_hints: Vec::new(),
    };
    let tokens = |text: &str| model.encode_continuation(text).expect("encodes").len();
    let (shared, _) = prompt(&model, &facts, until, commits[0]);
    let depth = model.encode(&shared).expect("encodes").len();
    let suffix: usize = commits
        .iter()
        .map(|c| tokens(&prompt(&model, &facts, until, c).1))
        .sum();
    let mean = suffix.div_ceil(cards);
    println!("judge: {cards} cards of dpdk-8's window after {depth} tokens of facts; {mean} tokens each on average ({suffix} in all)");

    let mut judge =
        PointwiseJudge::new(model, Head::zero_shot(), None).expect("Yes and No are tokens");
    // Warm-up, and the facts' KV cache, which later runs reuse.
    judge
        .read_many(&facts, until, &commits[..1], &mut || {})
        .expect("reads");
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for run in 0..args.runs {
        let (_, t) = timed(|| {
            judge
                .read_many(&facts, until, &commits, &mut || {})
                .expect("reads")
        });
        ours.push(t.as_secs_f64());
        if let Some(bin) = &args.llama_bench {
            let Some(ts) = llama_bench_once(bin, &args.model, mean, depth, args.threads) else {
                fail(format!(
                    "{} did not run, so there is no comparison",
                    bin.display()
                ));
            };
            theirs.push((cards * mean) as f64 / ts);
        }
        eprintln!(
            "  run {}: rca {:.1} s{}",
            run + 1,
            ours.last().unwrap(),
            theirs
                .last()
                .map_or(String::new(), |t| format!(", llama.cpp {t:.1} s"))
        );
    }
    let ours_median = median(&mut ours);
    println!(
        "rca        judge: {ours_median:6.1} s for {cards} cards (median of {}; {:.2} s a card), peak RSS {:.0} MB",
        args.runs,
        ours_median / cards as f64,
        peak_rss_mb()
    );
    if !theirs.is_empty() {
        let theirs_median = median(&mut theirs);
        println!(
            "llama.cpp  judge: {theirs_median:6.1} s for the same tokens (median of {}, llama-bench -p {mean} -d {depth} -n 0 -t {} -fa 0)",
            theirs.len(),
            args.threads
        );
        println!(
            "ratio rca / llama.cpp time: {:.2}",
            ours_median / theirs_median
        );
    }
}

/// 20 batches that share the instructions and facts (about 275 tokens), each
/// with its own two changes (about 120 tokens), the proportions measured in
/// model-notes.md: 20 full prompts against the shared prefix once plus 20
/// suffixes.
fn prefix_reuse(model: &Model, labels: &[u32]) {
    let batches: Vec<Vec<String>> = (0..20)
        .map(|b| (0..2).map(|i| change_line(LABELS[i], b * 2 + i)).collect())
        .collect();
    let (shared, _) = prompt_parts(model, &batches[0]);
    let shared_ids = model.encode(&shared).unwrap();
    let suffixes: Vec<Vec<u32>> = batches
        .iter()
        .map(|changes| {
            let (_, own) = prompt_parts(model, changes);
            model.encode_continuation(&own).unwrap()
        })
        .collect();
    let suffix_mean = suffixes.iter().map(Vec::len).sum::<usize>() / suffixes.len();
    let candidates = &labels[..2];

    let (full, full_time) = timed(|| {
        suffixes
            .iter()
            .map(|suffix| {
                let ids = [shared_ids.as_slice(), suffix].concat();
                model.next_token_logprobs(None, &ids, candidates).unwrap()
            })
            .collect::<Vec<_>>()
    });
    let (reused, reuse_time) = timed(|| {
        let prefix = model.prefix(&shared_ids).unwrap();
        suffixes
            .iter()
            .map(|suffix| {
                model
                    .next_token_logprobs(Some(&prefix), suffix, candidates)
                    .unwrap()
            })
            .collect::<Vec<_>>()
    });
    let max_diff = full
        .iter()
        .flatten()
        .zip(reused.iter().flatten())
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    println!(
        "prefix reuse ({} shared tokens, 20 suffixes of ~{suffix_mean} tokens): 20 full prompts {:.2} s, prefix once + 20 suffixes {:.2} s ({:.1}x), max |logprob diff| {max_diff:.1e}",
        shared_ids.len(),
        full_time.as_secs_f64(),
        reuse_time.as_secs_f64(),
        full_time.as_secs_f64() / reuse_time.as_secs_f64()
    );
}
