//! rca's next-token log-probabilities against llama.cpp's on the same GGUF:
//! the prompts (an election prompt and a pointwise judge prompt, as the rank
//! stage builds them) and the comparison. Used by tests/model.rs on the
//! default model against a recorded reference, and by `examples/parity.rs`
//! on any GGUF against a live `llama-logprobs`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use rca::model::Model;

/// A llama.cpp program built by `scripts/llama-ref build` (which `just test`
/// runs first). The reference is part of the test suite: without it the
/// test fails and says how to build it.
pub fn llama_bin(name: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = Command::new(root.join("scripts/llama-ref"))
        .arg("bindir")
        .output()
        .expect("scripts/llama-ref runs");
    let dir = String::from_utf8_lossy(&output.stdout).trim().to_string();
    let path = Path::new(&dir).join(name);
    assert!(
        output.status.success() && path.is_file(),
        "llama.cpp's {name} is not built: run `scripts/llama-ref build` (just test does)"
    );
    path
}

/// llama.cpp's next-token log-probabilities after `ids` on `model`, from
/// `probe` (scripts/llama-logprobs.cpp): a JSON object with the ten most
/// likely tokens (`top`) and the `asked` ones, each `[id, logprob]`.
pub fn llama_logprobs(probe: &Path, model: &Path, ids: &[u32], asked: &[u32]) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ids.txt");
    let text: Vec<String> = ids.iter().map(u32::to_string).collect();
    std::fs::write(&file, text.join(" ")).unwrap();
    let output = Command::new(probe)
        .arg(model)
        .arg(&file)
        .args(asked.iter().map(u32::to_string))
        .output()
        .expect("the llama.cpp probe runs");
    assert!(
        output.status.success(),
        "llama-logprobs: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

pub const LABELS: [&str; 20] = [
    "A", "B", "C", "D", "E", "F", "G", "H", "I", "J", "K", "L", "M", "N", "O", "P", "Q", "R", "S",
    "T",
];

/// An election prompt like the rank stage's: the model's chat format, the
/// incident, `changes` labelled changes, and the answer prefix ending in "(".
pub fn election_prompt(model: &Model, changes: usize) -> String {
    let mut user = String::from(
        "Incident: checkout p99 latency doubled\nImpact: EU checkout requests time out after the 14:05 deploy\nTeam paged: payments-core\n\nChanges:\n",
    );
    for (i, label) in LABELS.iter().take(changes).enumerate() {
        user.push_str(&format!(
            "{label}. net/mlx5: fix Rx queue stall in ring {i} | {}d | alice | drivers/net/mlx5/mlx5_rxq.c | +{} -{}\n",
            i % 7 + 1,
            12 + i,
            3 + i % 5
        ));
    }
    user.push_str("\nWhich change most likely caused this incident? Answer with its letter.");
    let mut prompt = model.chat_prompt(None, &user);
    prompt.push_str("The change that most likely caused this incident is (");
    prompt
}

pub fn label_ids(model: &Model) -> Vec<u32> {
    LABELS
        .iter()
        .map(|l| model.single_token(l).expect("labels are single tokens"))
        .collect()
}

/// The prompts of the parity check, each with the tokens whose
/// log-probabilities are compared besides the top 10: a 20-change election
/// prompt (the labels), and a pointwise judge prompt (Yes and No).
pub fn parity_prompts(model: &Model) -> Vec<(&'static str, String, Vec<u32>)> {
    let facts = rca::cases::Facts {
        title: "net/mlx5: fix Rx queue stall after port restart".into(),
        impact: Some("Rx stops on mlx5 ports after rte_eth_dev_stop/start".into()),
        team_hints: Vec::new(),
        path_hints: Vec::new(),
    };
    let mut commit: rca::history::Commit = serde_json::from_value(serde_json::json!({
        "id": "0123456789abcdef0123456789abcdef01234567",
        "author": "alice", "email": "alice@example.com",
        "authored_at": 1_700_000_000, "committed_at": 1_700_000_000, "landed_at": 1_700_000_000,
        "subject": "net/mlx5: rework Rx queue release",
        "body": "Release the queue's memory regions when the port stops.",
        "files": [{"path": "drivers/net/mlx5/mlx5_rxq.c", "added": 40, "removed": 12, "binary": false}],
    }))
    .unwrap();
    commit.diff.functions.push(rca::diff::Term {
        text: "mlx5_rxq_release".into(),
        file: 0,
        hunk: None,
    });
    let (shared, rest) = rca::rank::pointwise::prompt(model, &facts, 1_700_086_400, &commit);
    let yes_no = ["Yes", "No"]
        .map(|t| model.single_token(t).unwrap())
        .to_vec();
    vec![
        ("election", election_prompt(model, 20), label_ids(model)),
        ("pointwise", format!("{shared}{rest}"), yes_no),
    ]
}

/// `[[id, logprob], ...]` as llama-logprobs prints them.
pub fn pairs(v: &serde_json::Value) -> Vec<(u32, f32)> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|p| (p[0].as_u64().unwrap() as u32, p[1].as_f64().unwrap() as f32))
        .collect()
}

/// How rca's next-token distribution after one prompt compares with
/// llama.cpp's.
#[derive(Debug)]
pub struct Comparison {
    /// Whether both put the same token first.
    pub same_first: bool,
    /// Whether both have the same ten most likely tokens (as sets:
    /// neighbours may swap inside the ten).
    pub same_top10: bool,
    /// llama.cpp's top-10 tokens that rca ranks below its own tenth, with
    /// rca's gap to that tenth (nats): neighbours of the tenth may swap
    /// across the boundary when the gap is within the tolerance.
    pub outside_top10: Vec<(u32, f32)>,
    /// (token, rca, llama.cpp) for llama.cpp's top 10 and the asked tokens.
    pub gaps: Vec<(u32, f32, f32)>,
}

impl Comparison {
    /// Whether the distributions agree within `tolerance` nats: the same
    /// first token, every compared token within it, and none of llama.cpp's
    /// top 10 further than it below rca's tenth (closer neighbours of the
    /// tenth may swap across the boundary).
    pub fn agrees(&self, tolerance: f32) -> bool {
        self.same_first
            && self.worst() < tolerance
            && self.outside_top10.iter().all(|&(_, gap)| gap < tolerance)
    }

    /// The largest gap in nats.
    pub fn worst(&self) -> f32 {
        self.gaps
            .iter()
            .map(|&(_, ours, theirs)| (ours - theirs).abs())
            .fold(0.0, f32::max)
    }
}

/// rca's log-probabilities of every vocabulary token after `ids`, compared
/// with llama.cpp's `top` and `asked` (each `[[id, logprob], ...]`).
pub fn compare(
    model: &Model,
    ids: &[u32],
    top: &serde_json::Value,
    asked: &serde_json::Value,
) -> Comparison {
    let vocabulary: Vec<u32> = (0..model.vocab_size() as u32).collect();
    let ours = model.next_token(None, ids, &vocabulary).unwrap().logprobs;
    let mut order = vocabulary;
    order.sort_by(|&a, &b| ours[b as usize].total_cmp(&ours[a as usize]));
    let top = pairs(top);
    let ours_top: BTreeSet<u32> = order[..10].iter().copied().collect();
    let theirs_top: BTreeSet<u32> = top.iter().map(|p| p.0).collect();
    let tenth = ours[order[9] as usize];
    Comparison {
        same_first: order[0] == top[0].0,
        same_top10: ours_top == theirs_top,
        outside_top10: theirs_top
            .difference(&ours_top)
            .map(|&id| (id, tenth - ours[id as usize]))
            .collect(),
        gaps: top
            .iter()
            .chain(&pairs(asked))
            .map(|&(id, theirs)| (id, ours[id as usize], theirs))
            .collect(),
    }
}
