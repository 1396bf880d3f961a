//! The fuzz targets (fuzz/targets.rs, shared with the cargo-fuzz crate in
//! fuzz/) without a fuzz engine, under plain stable `cargo test`: each
//! target gets its committed seed corpus (fuzz/corpus/NAME) and a few
//! thousand deterministic mutations of it (fixed seed: byte flips,
//! insertions, deletions, truncations, splices), and must not panic.
//! Errors from the parsers are fine. See docs/fuzzing.md.

#[path = "../fuzz/targets.rs"]
mod targets;

use std::path::{Path, PathBuf};

/// Mutations per target, shared out over its seeds.
const MUTATIONS: usize = 2000;

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Bytes the parsers give meaning to, more likely than random ones to
/// reach new code.
const INTERESTING: &[u8] = b"\x01\n\r\t #*?[]{}/:@<>=,.-_!\\\"'|&0123456789FMRXNKSTL\x00\xff\xc3";

/// One mutation of `seed`; `other` is another seed of the same target, for
/// splices.
fn mutate(rng: &mut Rng, seed: &[u8], other: &[u8]) -> Vec<u8> {
    let mut data = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = data.len();
        match rng.below(8) {
            // Flip a bit.
            0 if len > 0 => {
                let i = rng.below(len);
                data[i] ^= 1 << rng.below(8);
            }
            // Overwrite a byte with an interesting one.
            1 if len > 0 => {
                let i = rng.below(len);
                data[i] = INTERESTING[rng.below(INTERESTING.len())];
            }
            // Insert an interesting byte.
            2 => {
                let i = rng.below(len + 1);
                data.insert(i, INTERESTING[rng.below(INTERESTING.len())]);
            }
            // Delete a run.
            3 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below(16.min(len - i));
                data.drain(i..i + n);
            }
            // Truncate.
            4 => data.truncate(rng.below(len + 1)),
            // Duplicate a run in place.
            5 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below(64.min(len - i));
                let run = data[i..i + n].to_vec();
                let at = rng.below(len + 1);
                data.splice(at..at, run);
            }
            // Splice in a piece of another seed.
            6 if !other.is_empty() => {
                let i = rng.below(other.len());
                let n = 1 + rng.below(256.min(other.len() - i));
                let at = rng.below(len + 1);
                data.splice(at..at, other[i..i + n].iter().copied());
            }
            // Overwrite 1, 2, 4 or 8 bytes with an extreme integer (lengths,
            // counts and types in binary headers).
            _ if len > 0 => {
                let width = 1 << rng.below(4);
                let value: u64 = match rng.below(4) {
                    0 => 0,
                    1 => u64::MAX,
                    2 => 1 << (rng.below(64)),
                    _ => rng.next(),
                };
                let i = rng.below(len);
                for (k, byte) in value.to_le_bytes().iter().take(width).enumerate() {
                    if let Some(b) = data.get_mut(i + k) {
                        *b = *byte;
                    }
                }
            }
            _ => data.push(INTERESTING[rng.below(INTERESTING.len())]),
        }
    }
    data
}

fn corpus(name: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(name);
    let mut seeds: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            (path, data)
        })
        .collect();
    seeds.sort();
    assert!(!seeds.is_empty(), "{}: no seeds", dir.display());
    seeds
}

/// Runs `target` on `data`; on a panic, saves the input for
/// `cargo fuzz run NAME FILE` and fails naming it.
fn run_one(name: &str, target: targets::Target, what: &str, data: &[u8]) {
    let result = std::panic::catch_unwind(|| target(data));
    if let Err(panic) = result {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz_smoke");
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join(format!("crash-{name}"));
        std::fs::write(&file, data).unwrap();
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        panic!(
            "target {name} panicked on {what} (input saved to {}): {message}",
            file.display()
        );
    }
}

fn smoke(name: &str) {
    let target = targets::ALL
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no target {name}"))
        .1;
    let seeds = corpus(name);
    let start = std::time::Instant::now();
    for (path, data) in &seeds {
        run_one(name, target, &path.display().to_string(), data);
    }
    let mut rng = Rng(0x5eed_0000_0000_0000 ^ name.len() as u64 ^ (name.as_bytes()[0] as u64) << 8);
    for i in 0..MUTATIONS {
        let (path, seed) = &seeds[i % seeds.len()];
        let other = &seeds[rng.below(seeds.len())].1;
        let data = mutate(&mut rng, seed, other);
        run_one(
            name,
            target,
            &format!("mutation {i} of {}", path.display()),
            &data,
        );
    }
    eprintln!(
        "{name}: {} seeds + {MUTATIONS} mutations in {:.2?}",
        seeds.len(),
        start.elapsed()
    );
}

#[test]
fn every_target_has_a_test_and_a_corpus() {
    let tested = [
        "codeowners",
        "maintainers",
        "owners",
        "cases",
        "config",
        "when",
        "gguf",
        "adapter",
        "learned",
    ];
    for (name, _) in targets::ALL {
        assert!(tested.contains(name), "{name} has no smoke test");
        assert!(!corpus(name).is_empty());
    }
}

#[test]
fn codeowners() {
    smoke("codeowners");
}

#[test]
fn maintainers() {
    smoke("maintainers");
}

#[test]
fn owners() {
    smoke("owners");
}

#[test]
fn cases() {
    smoke("cases");
}

#[test]
fn config() {
    smoke("config");
}

#[test]
fn when() {
    smoke("when");
}

#[test]
fn gguf() {
    smoke("gguf");
}

#[test]
fn adapter() {
    smoke("adapter");
}

#[test]
fn learned() {
    smoke("learned");
}

/// The seeds that stand for valid files load, so that mutations of them
/// reach the code after the parse.
#[test]
fn the_valid_adapter_and_learned_seeds_load() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let adapter =
        rca::model::adapter::Adapter::load(&corpus.join("adapter/rank2-q-v.seed")).unwrap();
    assert_eq!(adapter.pairs.len(), 2);
    rca::train::fusion::FusionFile::load(&corpus.join("learned/fusion-small.yaml")).unwrap();
    for method in ["platt", "isotonic"] {
        rca::calibrate::Calibration::load(
            &corpus.join(format!("learned/calibration-{method}.yaml")),
        )
        .unwrap();
    }
}

/// The small GGUF seed is a complete header: the reader accepts it, so
/// mutations of it reach the tokenizer and hyper-parameter code.
#[test]
fn the_small_gguf_seed_reads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/gguf/smollm2-small.seed");
    rca::model::read_gguf_metadata(&path).unwrap();
}
